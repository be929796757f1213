"""The Responses request, its conversion to the chat request it means, and its stream events,
without an engine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.responses import (
    Response,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ToolChoiceFunction,
)
from pydantic import ValidationError

from server.chat.messages import template_messages
from server.chat.schemas import ChatCompletionRequest, ImagePart, TextPart
from server.errors import BadRequestError, validation_error_body
from server.responses.convert import chat_request
from server.responses.response import ResponseShell, TokenCounts, output_items, response_object
from server.responses.schemas import ResponsesRequest
from server.responses.service import in_responses_terms
from server.responses.stream import ResponseEvents
from server.tools.calls import ParsedCall, ToolOutput
from server.tools.schemas import NamedToolChoice
from server.tools.streaming import CallsEvent, FinishEvent


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
            {
                "input": [
                    {"type": "reasoning", "summary": []},
                    {"type": "item_reference", "id": "i"},
                ]
            },
            r"\['item_reference', 'reasoning'\] are not supported",
        ),
        ({"input": []}, "1 to 256 items"),
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
    request(prompt_cache_key="k", prompt_cache_retention="24h", safety_identifier="u1")


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
    sent += events.feed(FinishEvent("length")) + events.finish(TokenCounts(5, 3, 0, 0, 0))
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


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}},
        "required": ["city"],
    },
    "strict": True,
}
LIGHT = {"type": "function", "name": "switch_light", "parameters": None, "strict": None}


def call_item(call_id: str, name: str, arguments: str) -> dict[str, object]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def result_item(call_id: str, output: object) -> dict[str, object]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def test_function_call_items_become_chats_tool_calls_and_tool_messages() -> None:
    sdk_call = ResponseFunctionToolCall(
        type="function_call", call_id="call_b", name="switch_light", arguments='{"on": true}'
    )
    parsed = request(
        tools=[WEATHER, LIGHT],
        input=[
            {"role": "user", "content": "Weather and light?"},
            call_item("call_a", "get_weather", '{"city": "Oslo"}'),
            sdk_call.model_dump(),  # every field, unset ones null: null means the default
            result_item("call_a", "-3 C"),
            result_item("call_b", [{"type": "input_text", "text": "on"}]),
            {"role": "user", "content": "Thanks"},
        ],
    )
    chat = chat_request(parsed)
    assert [m.role for m in chat.messages] == ["user", "assistant", "tool", "tool", "user"]
    assistant = chat.messages[1]
    assert assistant.content is None and assistant.tool_calls is not None
    assert [(c.id, c.function.name, c.function.arguments) for c in assistant.tool_calls] == [
        ("call_a", "get_weather", '{"city": "Oslo"}'),
        ("call_b", "switch_light", '{"on": true}'),
    ]
    first, second = chat.messages[2], chat.messages[3]
    assert (first.tool_call_id, first.content) == ("call_a", "-3 C")
    assert second.tool_call_id == "call_b" and isinstance(second.content, list)
    assert second.content[0].model_dump() == {"type": "text", "text": "on"}


def test_a_call_right_after_an_assistant_message_joins_its_turn() -> None:
    text = {"role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]}
    parsed = request(tools=[WEATHER], input=[text, call_item("c1", "get_weather", "{}")])
    (assistant,) = chat_request(parsed).messages
    assert assistant.tool_calls is not None and len(assistant.tool_calls) == 1
    assert isinstance(assistant.content, list)
    assert assistant.content[0].model_dump() == {"type": "text", "text": "Let me look."}


def test_flat_tools_and_tool_choice_take_chats_nested_shapes() -> None:
    named = chat_request(
        request(
            tools=[WEATHER, LIGHT],
            tool_choice={"type": "function", "name": "switch_light"},
            parallel_tool_calls=False,
        )
    )
    assert [tool.model_dump(exclude_none=True) for tool in named.tools or []] == [
        {"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}},
        {
            "type": "function",
            "function": {"name": "switch_light", "parameters": {"type": "object"}},
        },
    ]
    assert named.tool_choice == NamedToolChoice.model_validate(
        {"type": "function", "function": {"name": "switch_light"}}
    )
    assert named.parallel_tool_calls is False
    required = chat_request(request(tools=[LIGHT], tool_choice="required"))
    assert required.effective_tool_choice == "required" and required.parallel_tool_calls
    assert chat_request(request(tools=[LIGHT])).effective_tool_choice == "auto"


@pytest.mark.parametrize("choice", ["auto", "none", None])
def test_without_tools_tool_choice_is_neutral(choice: str | None) -> None:
    chat = chat_request(request(tools=[], tool_choice=choice, parallel_tool_calls=True))
    assert chat.tools is None and chat.effective_tool_choice == "none"


def test_history_renders_as_the_same_prompt_as_the_chat_request_it_means() -> None:
    """No second prompt format: the template messages are chat's for the chat conversation."""
    parsed = request(
        instructions="Be brief.",
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather?"},
            call_item("call_a", "get_weather", '{"city": "Oslo"}'),
            result_item("call_a", "-3 C"),
        ],
    )
    call = {
        "id": "call_a",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    }
    as_chat = ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "tools": [
                {"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}}
            ],
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_a", "content": "-3 C"},
            ],
        }
    )
    converted = chat_request(parsed)
    rendered = template_messages(converted.messages, converted.tools or [])
    assert rendered == template_messages(as_chat.messages, as_chat.tools or [])
    assert "Result of get_weather (call call_a): -3 C" in str(rendered[-1].content)


def refusal(body: dict[str, object]) -> dict[str, object]:
    """The 400's error object the server sends for this request body."""
    with pytest.raises(ValidationError) as caught:
        ResponsesRequest.model_validate(body)
    errors: list[Any] = caught.value.errors()
    error = validation_error_body(errors, body)["error"]
    assert isinstance(error, dict)
    return error


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        (
            {"tools": [{"type": "web_search"}, LIGHT, {"type": "mcp", "server_label": "x"}]},
            "tools",
            "tools of type ['mcp', 'web_search'] are not supported",
        ),
        ({"tools": [{**LIGHT, "name": "a b"}]}, "tools.0.name", "pattern"),
        ({"tools": [{**LIGHT, "defer_loading": True}]}, "tools.0.defer_loading", "not supported"),
        (
            {"tools": [LIGHT], "tool_choice": {"type": "function", "name": "nope"}},
            "tool_choice",
            "names 'nope', not one of ['switch_light']",
        ),
        ({"tools": [LIGHT], "tool_choice": {"type": "file_search"}}, "tool_choice", "file_search"),
        ({"tool_choice": "required"}, "tool_choice", "needs tools"),
        (
            {"input": [result_item("c", [{"type": "input_image", "image_url": "data:,"}])]},
            "input.0.output",
            "output parts of type ['input_image']",
        ),
        (
            {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input.0.call_id",
            "required",
        ),
    ],
)
def test_tool_refusals_name_the_fieldin_responses_terms(
    fields: dict[str, object], param: str, words: str
) -> None:
    error = refusal({"model": "m", "input": "hi", **fields})
    assert error["param"] == param
    assert words in str(error["message"])


def calls_events() -> list[dict[str, Any]]:
    shell = ResponseShell("resp_1", 0, "m", request(tools=[WEATHER, LIGHT]), 1.0, 1.0)
    events = ResponseEvents(shell)
    calls = [
        ParsedCall("call_1", "get_weather", '{"city": "Paris"}'),
        ParsedCall("call_2", "switch_light", '{"on": false}'),
    ]
    sent = events.start() + events.feed(CallsEvent(calls)) + events.feed(FinishEvent("tool_calls"))
    return decode(sent + events.finish(TokenCounts(5, 9, 0, 0, 0)))


def test_streamed_calls_follow_openais_event_sequence_and_shapes() -> None:
    payloads = calls_events()
    one_call = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    assert [p["type"] for p in payloads] == [
        "response.created",
        "response.in_progress",
        *one_call,
        *one_call,
        "response.completed",
    ]
    # The SDK's own types, validated (the SDK itself builds them without validating).
    added = ResponseOutputItemAddedEvent.model_validate(payloads[2])
    delta = ResponseFunctionCallArgumentsDeltaEvent.model_validate(payloads[3])
    done = ResponseFunctionCallArgumentsDoneEvent.model_validate(payloads[4])
    item_done = ResponseOutputItemDoneEvent.model_validate(payloads[5])
    assert isinstance(added.item, ResponseFunctionToolCall) and added.item.id
    assert added.item.arguments == "" and added.item.status == "in_progress"
    assert delta.item_id == done.item_id == added.item.id and added.item.id.startswith("fc_")
    assert delta.delta == done.arguments == '{"city": "Paris"}'
    assert isinstance(item_done.item, ResponseFunctionToolCall)
    assert item_done.item.status == "completed" and item_done.item.call_id == "call_1"
    assert [p["output_index"] for p in payloads[2:10]] == [0] * 4 + [1] * 4
    final = payloads[-1]["response"]
    assert final["status"] == "completed"
    output = [ResponseFunctionToolCall.model_validate(item) for item in final["output"]]
    assert [(item.name, item.arguments) for item in output] == [
        ("get_weather", '{"city": "Paris"}'),
        ("switch_light", '{"on": false}'),
    ]
    assert [tool["name"] for tool in final["tools"]] == ["get_weather", "switch_light"]


def test_output_items_hold_a_call_each_or_the_text() -> None:
    call = ParsedCall("call_1", "switch_light", '{"on": true}')
    (item,) = output_items(ToolOutput(None, [call], "tool_calls"), "completed")
    assert ResponseFunctionToolCall.model_validate(item).call_id == "call_1"
    assert item["id"].startswith("fc_") and item["status"] == "completed"
    (message,) = output_items(ToolOutput("Hello", [], "stop"), "completed")
    assert message["type"] == "message" and message["content"][0]["text"] == "Hello"


def test_the_response_echoes_tools_and_a_named_tool_choice() -> None:
    choice = {"type": "function", "name": "get_weather"}
    shell = ResponseShell("resp_1", 0, "m", request(tools=[WEATHER], tool_choice=choice), 1, 1)
    body = response_object(shell, "completed", [])
    parsed = Response.model_validate(body)
    assert isinstance(parsed.tool_choice, ToolChoiceFunction)
    assert parsed.tool_choice.model_dump() == choice
    assert parsed.tools[0].model_dump(exclude_none=True) == WEATHER


def test_the_agents_sdks_tool_round_is_served_as_chats() -> None:
    """The second turn of an OpenAI Agents SDK run (0.24, OpenAIResponsesModel, an output_type),
    as the SDK sends it: the call it got back, with id and status, its result, the SDK's strict
    tool schema, `include: []`, and the output_type as text.format."""
    forecast = {
        "type": "object",
        "properties": {"sky": {"enum": ["sunny", "rainy"], "title": "Sky", "type": "string"}},
        "required": ["sky"],
        "title": "Forecast",
        "additionalProperties": False,
    }
    city = {"city": {"enum": ["Paris", "Oslo"], "title": "City", "type": "string"}}
    parameters = {"properties": city, "required": ["city"], "type": "object"}
    tool = {**WEATHER, "parameters": {**parameters, "additionalProperties": False}}
    call = {**call_item("call_1", "get_weather", '{"city": "Paris"}'), "id": "fc_1"}
    body = {
        "include": [],
        "input": [
            {"content": "Weather in Oslo?", "role": "user"},
            {**call, "status": "completed"},
            result_item("call_1", "sunny in Paris"),
        ],
        "instructions": "Answer briefly.",
        "max_output_tokens": 60,
        "parallel_tool_calls": False,
        "temperature": 0.0,
        "text": {
            "format": {
                "type": "json_schema",
                "name": "final_output",
                "schema": forecast,
                "strict": True,
            }
        },
        "tools": [tool],
    }
    chat = chat_request(request(**body))
    assert [m.role for m in chat.messages] == ["system", "user", "assistant", "tool"]
    assert chat.effective_tool_choice == "auto" and chat.parallel_tool_calls is False
    assert chat.response_format is not None
    assert chat.response_format.model_dump(by_alias=True, exclude_none=True) == {
        "type": "json_schema",
        "json_schema": {"name": "final_output", "schema": forecast, "strict": True},
    }


def test_a_chat_tool_parameters_refusal_readsin_responses_terms() -> None:
    chat_error = BadRequestError(
        "The JSON schema in 'tools.1.function.parameters' cannot be compiled.",
        param="tools.1.function.parameters",
    )
    error = in_responses_terms(chat_error)
    assert error.param == "tools.1.parameters"
    assert error.message == "The JSON schema in 'tools.1.parameters' cannot be compiled."
