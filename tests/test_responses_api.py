"""POST /v1/responses through the official SDK (create and stream, with images), against the
real server on tiny-llava-hf: the same greedy text as chat for the same conversation, OpenAI's
event sequence, function tools (calls, streamed calls, a tool-result turn), and a clear 400 for
what a stateless server cannot do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import httpx
import openai
import pytest
from openai.types.responses import FunctionTool, ResponseFunctionToolCall
from pydantic import BaseModel, ConfigDict, Field

from tests.images import data_url, encode, scene, user_message

EVENT_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
]
CLOSING_EVENTS = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


def png_url(seed: int) -> str:
    return data_url(encode(scene(64, 64, seed)))


def image_input(text: str, url: str) -> list[Any]:
    parts = [{"type": "input_image", "image_url": url}, {"type": "input_text", "text": text}]
    return [{"role": "user", "content": parts}]


def chat_text(client: openai.OpenAI, model: str, messages: list[Any], max_tokens: int) -> str:
    reply = client.chat.completions.create(
        model=model, messages=messages, max_tokens=max_tokens, temperature=0
    )
    return reply.choices[0].message.content or ""


def test_create_with_an_image_and_instructions_equals_chat(
    client: openai.OpenAI, model_id: str
) -> None:
    url = png_url(31)
    response = client.responses.create(
        model=model_id,
        instructions="Answer briefly.",
        input=image_input("What is in the picture?", url),
        max_output_tokens=10,
        temperature=0,
    )
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.model == model_id
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant"
    messages = [
        {"role": "system", "content": "Answer briefly."},
        user_message("What is in the picture?", url),
    ]
    assert response.output_text == chat_text(client, model_id, messages, 10)
    usage = response.usage
    assert usage is not None and usage.output_tokens >= 1
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    details = usage.input_tokens_details
    assert 0 <= details.cache_write_tokens <= usage.input_tokens - details.cached_tokens
    expected_status = "incomplete" if usage.output_tokens == 10 else "completed"
    assert response.status == expected_status and message.status == expected_status
    if expected_status == "incomplete":
        assert response.incomplete_details is not None
        assert response.incomplete_details.reason == "max_output_tokens"


def test_string_input_and_http_image(
    client: openai.OpenAI, model_id: str, image_host: tuple[str, Path]
) -> None:
    host, folder = image_host
    (folder / "responses.png").write_bytes(encode(scene(90, 60, 32)))
    by_url = client.responses.create(
        model=model_id,
        input=image_input("Describe.", f"{host}/responses.png"),
        max_output_tokens=6,
        temperature=0,
    )
    by_data = client.responses.create(
        model=model_id,
        input=image_input("Describe.", data_url((folder / "responses.png").read_bytes())),
        max_output_tokens=6,
        temperature=0,
    )
    assert by_url.output_text == by_data.output_text
    plain = client.responses.create(model=model_id, input="Hello", max_output_tokens=4)
    assert plain.usage is not None and plain.usage.output_tokens >= 1


def test_stream_sends_openais_event_sequence(client: openai.OpenAI, model_id: str) -> None:
    url = png_url(33)
    options: dict[str, Any] = {
        "model": model_id,
        "input": image_input("Tell me about it.", url),
        "max_output_tokens": 12,
        "temperature": 0,
    }
    whole = client.responses.create(**options)
    with client.responses.stream(**options) as stream:
        events: list[Any] = list(stream)
    kinds = [event.type for event in events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert kinds[:4] == EVENT_ORDER
    deltas = [event for event in events if event.type == "response.output_text.delta"]
    assert kinds[4 : 4 + len(deltas)] == ["response.output_text.delta"] * len(deltas)
    assert kinds[4 + len(deltas) : -1] == CLOSING_EVENTS
    text = "".join(event.delta for event in deltas)
    assert text == whole.output_text
    final = events[-1]
    assert final.type == f"response.{whole.status}"
    assert final.response.output_text == text
    assert final.response.usage is not None and whole.usage is not None
    assert final.response.usage.output_tokens == whole.usage.output_tokens
    assert final.response.usage.input_tokens == whole.usage.input_tokens


def test_raw_stream_names_each_event_and_has_no_done_line(base_url: str, model_id: str) -> None:
    body = {"model": model_id, "input": "Hi", "max_output_tokens": 3, "stream": True}
    with httpx.stream("POST", f"{base_url}/v1/responses", json=body, timeout=60) as reply:
        assert reply.status_code == 200
        lines = [line for line in reply.iter_lines() if line]
    names = [line[len("event: ") :] for line in lines[0::2]]
    payloads = [json.loads(line[len("data: ") :]) for line in lines[1::2]]
    assert [payload["type"] for payload in payloads] == names
    assert names[0] == "response.created" and names[-1] in (
        "response.completed",
        "response.incomplete",
    )
    assert payloads[0]["response"]["status"] == "in_progress"
    assert payloads[-1]["response"]["usage"]["output_tokens"] == 3


def test_history_from_an_earlier_response_and_developer_role(
    client: openai.OpenAI, model_id: str
) -> None:
    first = client.responses.create(model=model_id, input="Hi", max_output_tokens=4, store=True)
    history: list[Any] = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        *[item.model_dump() for item in first.output],
        {"role": "user", "content": [{"type": "input_text", "text": "And?"}]},
    ]
    second = client.responses.create(
        model=model_id, input=history, max_output_tokens=4, temperature=0, metadata={"k": "v"}
    )
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": first.output_text},
        {"role": "user", "content": "And?"},
    ]
    assert second.output_text == chat_text(client, model_id, messages, 4)
    assert second.to_dict()["store"] is False and second.metadata == {"k": "v"}


def test_previous_response_id_is_refused_as_stateless(client: openai.OpenAI, model_id: str) -> None:
    with pytest.raises(openai.BadRequestError, match="does not store responses") as caught:
        client.responses.create(
            model=model_id, input="Hi", store=True, previous_response_id="resp_123"
        )
    assert caught.value.param == "previous_response_id"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"input": [{"type": "reasoning", "summary": []}]}, "reasoning"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "file_id",
        ),
        ({"input": "Hi", "reasoning": {"effort": "high"}}, "reasoning"),
        ({"input": "Hi", "max_output_tokens": 100000}, "max_output_tokens"),
        (
            {
                "input": [
                    {"role": "system", "content": [{"type": "input_image", "image_url": "data:,"}]}
                ]
            },
            "user messages",
        ),
    ],
)
def test_bad_requests_get_a_400_naming_the_problem(
    base_url: str, model_id: str, body: dict[str, Any], words: str
) -> None:
    reply = httpx.post(f"{base_url}/v1/responses", json={"model": model_id, **body}, timeout=60)
    assert reply.status_code == 400, reply.text
    assert words in reply.json()["error"]["message"]


def test_responses_are_counted_under_their_route(
    client: openai.OpenAI, base_url: str, model_id: str
) -> None:
    client.responses.create(model=model_id, input="Hi", max_output_tokens=2)
    metrics = httpx.get(f"{base_url}/metrics", timeout=10).text
    assert 'llava_serve_requests_total{route="/v1/responses",status="200"}' in metrics


class Scene(BaseModel):
    """Enums and booleans only: constrained decoding on the random-weight model ends quickly."""

    colour: Literal["red", "green", "blue"]
    round: bool


def test_parse_with_a_pydantic_model_on_an_image(client: openai.OpenAI, model_id: str) -> None:
    parsed = client.responses.parse(
        model=model_id,
        input=image_input("Describe the main shape.", png_url(34)),
        text_format=Scene,
        max_output_tokens=40,
    )
    assert isinstance(parsed.output_parsed, Scene)
    assert parsed.text is not None and parsed.text.format is not None
    assert parsed.text.format.type == "json_schema"


def test_json_schema_streamed(client: openai.OpenAI, model_id: str) -> None:
    with client.responses.stream(
        model=model_id, input="Describe a shape.", text_format=Scene, max_output_tokens=40
    ) as stream:
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, Scene)


def test_a_schema_the_backend_cannot_compile_is_a_400(client: openai.OpenAI, model_id: str) -> None:
    bad = {"type": "object", "properties": {"name": {"type": "string", "pattern": "(unclosed"}}}
    text: Any = {"format": {"type": "json_schema", "name": "x", "schema": bad}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model_id, input="Hi", text=text, max_output_tokens=5)
    assert caught.value.param == "text.format.schema"
    assert "properties.name" in caught.value.message


# Function tools. Their parameters are enums, booleans and bounded integers, so that a forced
# call on the random-weight model ends in a few tokens; the pydantic models check the
# arguments that come back against the same constraints (written out by hand below: pydantic's
# own schemas, with titles, would not fit the tiny model's 512-token context: the tools are
# written into the prompt).
MAX_CALL_TOKENS = 56  # a call here is about 45 tokens; the tools take about 430


class Lamp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool
    level: int = Field(ge=0, le=3)


class City(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: Literal["Paris", "Oslo"]


PARAMETERS: dict[str, type[BaseModel]] = {"set_lamp": Lamp, "get_weather": City}


def object_schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


LAMP_PROPERTIES = {
    "on": {"type": "boolean"},
    "level": {"type": "integer", "minimum": 0, "maximum": 3},
}
TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "set_lamp",
        "parameters": object_schema(LAMP_PROPERTIES),
        "strict": True,
    },
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": object_schema({"city": {"type": "string", "enum": ["Paris", "Oslo"]}}),
        "strict": None,
    },
]
WEATHER_ONLY = TOOLS[1:]
# The same tools as chat takes them.
CHAT_TOOLS: list[Any] = [
    {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}
    for tool in TOOLS
]


def function_calls(response: Any) -> list[ResponseFunctionToolCall]:
    return [item for item in response.output if isinstance(item, ResponseFunctionToolCall)]


def assert_valid_call(call: ResponseFunctionToolCall) -> None:
    assert call.id is not None and call.id.startswith("fc_") and call.call_id.startswith("call_")
    assert call.status == "completed"
    PARAMETERS[call.name].model_validate_json(call.arguments)  # parses, and fits the schema


def test_named_tool_choice_returns_a_function_call(client: openai.OpenAI, model_id: str) -> None:
    response = client.responses.create(
        model=model_id,
        input="Turn the lamp on.",
        tools=TOOLS,
        tool_choice={"type": "function", "name": "set_lamp"},
        max_output_tokens=MAX_CALL_TOKENS,
        temperature=0,
    )
    assert response.status == "completed"
    (call,) = response.output  # no message item: the answer is the call
    assert isinstance(call, ResponseFunctionToolCall) and call.name == "set_lamp"
    assert_valid_call(call)
    assert response.output_text == ""
    assert [tool.name for tool in response.tools if isinstance(tool, FunctionTool)] == [
        "set_lamp",
        "get_weather",
    ]


def test_required_tool_choice_makes_one_call(client: openai.OpenAI, model_id: str) -> None:
    response = client.responses.create(
        model=model_id,
        input="What is the weather in Oslo?",
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,  # the random model would go on listing calls
        max_output_tokens=MAX_CALL_TOKENS,
        temperature=0,
    )
    (call,) = function_calls(response)
    assert_valid_call(call)
    assert response.parallel_tool_calls is False and response.tool_choice == "required"


FUNCTION_CALL_EVENTS = [
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.completed",
]


def test_a_streamed_call_sends_openais_events(client: openai.OpenAI, model_id: str) -> None:
    options: dict[str, Any] = {
        "model": model_id,
        "input": "Dim the lamp.",
        "tools": TOOLS,
        "tool_choice": {"type": "function", "name": "set_lamp"},
        "max_output_tokens": MAX_CALL_TOKENS,
        "temperature": 0,
    }
    (whole,) = function_calls(client.responses.create(**options))
    events: list[Any] = list(client.responses.create(**options, stream=True))
    kinds = [event.type for event in events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[2:] == FUNCTION_CALL_EVENTS  # the arguments come in one delta, when complete
    added, delta, done, item_done, completed = events[2:]
    assert added.item.type == "function_call" and added.item.arguments == ""
    assert added.item.name == "set_lamp" and added.output_index == 0
    assert delta.item_id == done.item_id == item_done.item.id == added.item.id
    assert delta.delta == done.arguments == item_done.item.arguments == whole.arguments
    assert_valid_call(item_done.item)
    (final,) = function_calls(completed.response)
    assert final.arguments == whole.arguments and final.call_id == item_done.item.call_id
    # The SDK's stream helper, which builds the response from the events as they come.
    with client.responses.stream(**options) as stream:
        built = stream.get_final_response()
    (call,) = function_calls(built)
    assert call.arguments == whole.arguments


def test_auto_reads_a_reply_in_the_call_format_as_a_call(
    client: openai.OpenAI, model_id: str
) -> None:
    """Under `auto` a reply that is exactly a call becomes a function_call item, streamed or
    not. The random model is steered into that format by a text.format shaped like a call."""
    call_shape = object_schema({"name": {"const": "set_lamp"}, "arguments": TOOLS[0]["parameters"]})
    text: Any = {"format": {"type": "json_schema", "name": "call", "schema": call_shape}}
    options: dict[str, Any] = {
        "model": model_id,
        "input": "Dim the lamp.",
        "tools": TOOLS,
        "text": text,
        "max_output_tokens": MAX_CALL_TOKENS,
        "temperature": 0,
    }
    response = client.responses.create(**options)
    (call,) = response.output
    assert isinstance(call, ResponseFunctionToolCall) and call.name == "set_lamp"
    assert_valid_call(call)
    events: list[Any] = list(client.responses.create(**options, stream=True))
    assert [event.type for event in events[2:]] == FUNCTION_CALL_EVENTS
    assert events[-2].item.arguments == call.arguments


def test_a_tool_result_turn_is_answered_with_text_as_chat(
    client: openai.OpenAI, model_id: str
) -> None:
    """The SDK's own output items go back as history, with the function's output; the answer
    is the one chat gives for the same conversation. One tool: the history must fit the
    context beside the tools."""
    question = "What is the weather in Oslo?"
    first = client.responses.create(
        model=model_id,
        input=question,
        tools=WEATHER_ONLY,
        tool_choice={"type": "function", "name": "get_weather"},
        max_output_tokens=MAX_CALL_TOKENS,
        temperature=0,
    )
    (call,) = function_calls(first)
    result = {"type": "function_call_output", "call_id": call.call_id, "output": "-3 C and snow"}
    history: list[Any] = [{"role": "user", "content": question}, *first.output, result]
    second = client.responses.create(
        model=model_id, input=history, tools=WEATHER_ONLY, max_output_tokens=8, temperature=0
    )
    (message,) = second.output
    assert message.type == "message" and second.output_text
    chat_call = {
        "id": call.call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    messages: list[Any] = [
        {"role": "user", "content": question},
        {"role": "assistant", "content": None, "tool_calls": [chat_call]},
        {"role": "tool", "tool_call_id": call.call_id, "content": "-3 C and snow"},
    ]
    reply = client.chat.completions.create(
        model=model_id, messages=messages, tools=CHAT_TOOLS[1:], max_tokens=8, temperature=0
    )
    assert second.output_text == reply.choices[0].message.content


def test_tool_choice_none_answers_with_text(client: openai.OpenAI, model_id: str) -> None:
    response = client.responses.create(
        model=model_id,
        input="Hello there",
        tools=TOOLS,
        tool_choice="none",
        max_output_tokens=6,
        temperature=0,
    )
    assert not function_calls(response) and response.output[0].type == "message"
    reply = client.chat.completions.create(
        model=model_id,
        messages=[{"role": "user", "content": "Hello there"}],
        tools=CHAT_TOOLS,
        tool_choice="none",
        max_tokens=6,
        temperature=0,
    )
    assert response.output_text == reply.choices[0].message.content


def test_built_in_tool_types_are_refused_by_name(client: openai.OpenAI, model_id: str) -> None:
    tools: Any = [{"type": "web_search"}, TOOLS[0], {"type": "file_search", "vector_store_ids": []}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=model_id, input="Hi", tools=tools, max_output_tokens=4)
    assert caught.value.param == "tools"
    assert "['file_search', 'web_search'] are not supported" in caught.value.message
