"""Tools without an engine: the forced-call schema, the prompt text, reading calls from output
(and from a stream), and request messages -> template messages."""

from __future__ import annotations

import json

import pytest

from server.chat.messages import template_messages
from server.chat.schemas import ChatCompletionRequest, InputMessage
from server.tools.calls import ToolCallReader
from server.tools.constrain import forced_call_schema
from server.tools.schemas import NamedToolChoice, Tool
from server.tools.streaming import CallsEvent, FinishEvent, TextEvent, ToolCallStream

WEATHER = Tool.model_validate(
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}},
                "required": ["city"],
            },
        },
    }
)
LIGHT = Tool.model_validate(
    {
        "type": "function",
        "function": {
            "name": "switch_light",
            "parameters": {"type": "object", "properties": {"on": {"type": "boolean"}}},
        },
    }
)
TOOLS = [WEATHER, LIGHT]


def named(name: str) -> NamedToolChoice:
    return NamedToolChoice.model_validate({"type": "function", "function": {"name": name}})


def test_forced_call_schemas() -> None:
    assert forced_call_schema(TOOLS, "auto", True) is None
    assert forced_call_schema(TOOLS, "none", True) is None
    one = forced_call_schema(TOOLS, named("switch_light"), True)
    assert one is not None and one["properties"]["name"] == {"const": "switch_light"}
    assert one["properties"]["arguments"] == LIGHT.function.parameters
    several = forced_call_schema(TOOLS, "required", True)
    assert several is not None and several["minItems"] == 1 and "maxItems" not in several
    assert len(several["items"]["anyOf"]) == 2
    single = forced_call_schema(TOOLS, "required", False)
    assert single is not None and single["maxItems"] == 1


def test_reading_calls_and_text() -> None:
    reader = ToolCallReader(TOOLS, "auto", True)
    calls_text = json.dumps(
        [
            {"name": "get_weather", "arguments": {"city": "Oslo"}},
            {"name": "switch_light", "arguments": {}},
        ]
    )
    read = reader.read(calls_text, "stop")
    assert read.content is None and read.finish_reason == "tool_calls"
    assert [call.name for call in read.calls] == ["get_weather", "switch_light"]
    assert json.loads(read.calls[0].arguments) == {"city": "Oslo"}
    assert all(call.id.startswith("call_") for call in read.calls)
    for text in ("It is sunny.", '{"name": "unknown", "arguments": {}}', "{broken", "[]"):
        assert reader.read(text, "stop").content == text  # not calls: text, never an error
    one = ToolCallReader(TOOLS, "auto", parallel=False).read(calls_text, "stop")
    assert len(one.calls) == 1
    forced = ToolCallReader(TOOLS, named("get_weather"), True).read(
        '{"name":"get_weather","arguments":{"city":"Paris"}}', "stop"
    )
    assert forced.finish_reason == "stop"  # as OpenAI ends a named forced call


def test_streaming_text_passes_through_and_calls_are_held() -> None:
    text_stream = ToolCallStream(ToolCallReader(TOOLS, "auto", True))
    assert text_stream.feed("Hi t", None) == [TextEvent("Hi t")]
    assert text_stream.feed("here", "stop") == [TextEvent("here"), FinishEvent("stop")]
    call_stream = ToolCallStream(ToolCallReader(TOOLS, "auto", True))
    assert call_stream.feed('{"name":"switch_light",', None) == []
    events = call_stream.feed('"arguments":{"on":true}}', "stop")
    assert isinstance(events[0], CallsEvent) and events[1] == FinishEvent("tool_calls")
    assert json.loads(events[0].calls[0].arguments) == {"on": True}


def messages(*raw: dict[str, object]) -> list[InputMessage]:
    return [InputMessage.model_validate(message) for message in raw]


def test_tool_history_becomes_plain_turns() -> None:
    history = messages(
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "-3 C, snow"},
        {"role": "user", "content": "Thanks. And now?"},
    )
    rendered = template_messages(history, TOOLS)
    assert [message.role for message in rendered] == ["system", "user", "assistant", "user"]
    system = rendered[0].content
    assert isinstance(system, str) and system.startswith("Be brief.")
    assert '"name": "get_weather"' in system and '"arguments"' in system
    assert rendered[2].content == '{"name": "get_weather", "arguments": {"city": "Oslo"}}'
    result = rendered[3].content
    assert isinstance(result, list)
    texts = [part.text for part in result if hasattr(part, "text")]
    assert texts == ["Result of get_weather (call call_1): -3 C, snow", "Thanks. And now?"]


def test_without_tools_developer_is_system_and_nothing_else_changes() -> None:
    rendered = template_messages(
        messages({"role": "developer", "content": "x"}, {"role": "user", "content": "y"}), []
    )
    assert [(m.role, m.content) for m in rendered] == [("system", "x"), ("user", "y")]


def test_tool_choice_must_name_a_declared_tool() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    tools = [WEATHER.model_dump()]
    with pytest.raises(ValueError, match="not one of"):
        ChatCompletionRequest.model_validate(
            {**base, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "x"}}}
        )
    with pytest.raises(ValueError, match="needs tools"):
        ChatCompletionRequest.model_validate({**base, "tool_choice": "required"})
    request = ChatCompletionRequest.model_validate({**base, "tools": tools})
    assert request.effective_tool_choice == "auto"
