"""The Responses request, its conversion to the chat request it means, and its stream events,
without an engine."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from server.chat.schemas import ImagePart, TextPart
from server.errors import BadRequestError
from server.responses.convert import chat_request
from server.responses.response import ResponseShell, TokenCounts
from server.responses.schemas import ResponsesRequest
from server.responses.stream import ResponseEvents


def request(**fields: object) -> ResponsesRequest:
    return ResponsesRequest.model_validate({"model": "m", "input": "hi", **fields})


def test_instructions_and_developer_become_system_messages() -> None:
    parsed = request(
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "No lists."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,AA==",
                        "detail": "low",
                    },
                    {"type": "input_text", "text": "What is it?"},
                ],
            },
            {
                "id": "msg_1",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "A cat.", "annotations": []}],
            },
        ],
        max_output_tokens=7,
        temperature=None,
        store=True,
        metadata={"a": "b"},
    )
    chat = chat_request(parsed)
    assert [message.role for message in chat.messages] == ["system", "system", "user", "assistant"]
    content = chat.messages[2].content
    assert isinstance(content, list)
    image, text = content
    assert isinstance(image, ImagePart) and image.image_url.detail == "low"
    assert isinstance(text, TextPart) and text.text == "What is it?"
    assert chat.requested_max_tokens == 7 and chat.temperature is None


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (
            {"input": [{"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c"}]},
            "function_call",
        ),
        ({"input": []}, "1 to 256 items"),
        ({"tools": [{"type": "function", "name": "f"}]}, "tools"),
        ({"reasoning": {"effort": "low"}, "include": ["x"]}, "reasoning .*include"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "schema"),
        ({"truncation": "auto"}, "truncation"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "image_url is required",
        ),
    ],
)
def test_refusals_name_the_problem(fields: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        request(**fields)


def test_neutral_fields_are_accepted() -> None:
    request(
        reasoning={"effort": None}, tools=[], tool_choice="auto", include=[], truncation="disabled"
    )


def test_images_only_from_users() -> None:
    parsed = request(
        input=[
            {"role": "system", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}
        ]
    )
    with pytest.raises(BadRequestError) as caught:
        chat_request(parsed)
    assert caught.value.param == "input.0.content.0"


def decode(events: list[bytes]) -> list[dict[str, object]]:
    decoded = []
    for event in events:
        name, data = event.decode().strip().split("\n")
        payload = json.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        decoded.append(payload)
    return decoded


def test_events_in_openais_order_and_numbered() -> None:
    shell = ResponseShell("resp_1", 0, "m", request(), 1.0, 1.0)
    events = ResponseEvents(shell)
    sent = events.start() + events.delta("Hi t") + events.delta("") + events.delta("here")
    sent += events.finish("length", TokenCounts(5, 3, 0, 0))
    payloads = decode(sent)
    assert [payload["sequence_number"] for payload in payloads] == list(range(len(payloads)))
    assert [payload["type"] for payload in payloads] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
    ]
    final = payloads[-1]["response"]
    assert isinstance(final, dict)
    assert (
        final["status"] == "incomplete" and final["output"][0]["content"][0]["text"] == "Hi there"
    )
    assert final["usage"]["total_tokens"] == 8


def test_text_format_json_schema_becomes_chats_response_format() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    text = {"format": {"type": "json_schema", "name": "Answer", "schema": schema, "strict": True}}
    chat = chat_request(request(text=text))
    assert chat.model_dump(by_alias=True, exclude_none=True)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": schema, "strict": True},
    }
    assert chat_request(request(text={"format": {"type": "json_object"}})).response_format
