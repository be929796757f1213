# The SDK's unions (stream or not, function or custom tool call) are narrowed by the tests' asserts.
# mypy: disable-error-code="union-attr,call-overload,index"
"""Structured outputs, tools, OpenAI's leniency, image-token usage, /tokenize and vLLM's extra
fields, through the official SDK against the real server on tiny-llava-hf.

The model's weights are random: the schemas are enums, booleans and bounded integers, so that
constrained decoding must finish in a few tokens whatever the model prefers.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
import openai
import pytest
from pydantic import BaseModel, Field

from tests.images import data_url, encode, scene, user_message

IMAGE = data_url(encode(scene(64, 64, 11)))
MAX_TOKENS = 64


class Shape(BaseModel):
    colour: Literal["red", "green", "blue"]
    filled: bool
    corners: int = Field(ge=0, le=4)


SHAPE_SCHEMA = {
    "type": "object",
    "properties": {
        "colour": {"type": "string", "enum": ["red", "green", "blue"]},
        "filled": {"type": "boolean"},
        "corners": {"type": "integer", "minimum": 0, "maximum": 4},
    },
    "required": ["colour", "filled", "corners"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
LIGHT = {
    "type": "function",
    "function": {
        "name": "switch_light",
        "parameters": {
            "type": "object",
            "properties": {"on": {"type": "boolean"}},
            "required": ["on"],
            "additionalProperties": False,
        },
    },
}
TOOLS: list[Any] = [WEATHER, LIGHT]
ARGUMENT_KEYS = {"get_weather": {"city"}, "switch_light": {"on"}}


def shape_format(strict: bool = True) -> Any:
    spec = {"name": "shape", "schema": SHAPE_SCHEMA, "strict": strict}
    return {"type": "json_schema", "json_schema": spec}


def question(text: str = "Describe the main shape.") -> list[Any]:
    return [user_message(text, IMAGE)]


def assert_valid_call(name: str, arguments: str) -> None:
    parsed = json.loads(arguments)
    assert set(parsed) == ARGUMENT_KEYS[name]


def test_parse_with_a_pydantic_model_on_an_image(client: openai.OpenAI, model_id: str) -> None:
    reply = client.chat.completions.parse(
        model=model_id,
        messages=question(),
        response_format=Shape,
        max_tokens=MAX_TOKENS,
        temperature=0,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop"
    assert isinstance(choice.message.parsed, Shape)
    assert Shape.model_validate_json(choice.message.content or "") == choice.message.parsed


def test_json_schema_streamed_equals_not_streamed(client: openai.OpenAI, model_id: str) -> None:
    options: dict[str, Any] = {"max_tokens": MAX_TOKENS, "temperature": 0}
    whole = client.chat.completions.create(
        model=model_id, messages=question(), response_format=shape_format(False), **options
    )
    chunks = list(
        client.chat.completions.create(
            model=model_id,
            messages=question(),
            response_format=shape_format(False),
            stream=True,
            **options,
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == whole.choices[0].message.content
    Shape.model_validate_json(text)


def test_json_object(client: openai.OpenAI, model_id: str) -> None:
    reply = client.chat.completions.create(
        model=model_id,
        messages=question("Answer in JSON."),
        response_format={"type": "json_object"},
        max_tokens=256,
        temperature=0,
    )
    content = reply.choices[0].message.content or ""
    assert reply.choices[0].finish_reason == "stop", content
    assert isinstance(json.loads(content), dict)


def test_text_format_is_plain_text(client: openai.OpenAI, model_id: str) -> None:
    plain = client.chat.completions.create(
        model=model_id, messages=question(), max_tokens=8, temperature=0
    )
    text = client.chat.completions.create(
        model=model_id,
        messages=question(),
        max_tokens=8,
        temperature=0,
        response_format={"type": "text"},
    )
    assert text.choices[0].message.content == plain.choices[0].message.content


def test_a_schema_that_cannot_compile_is_400_naming_the_part(
    client: openai.OpenAI, model_id: str
) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "code": {"type": "string", "pattern": "(ab"}},
    }
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=model_id,
            messages=question(),
            max_tokens=8,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        )
    error = refused.value.body
    assert isinstance(error, dict)
    assert error["param"] == "response_format.json_schema.schema"
    assert "properties.code" in error["message"]


def test_named_tool_choice(client: openai.OpenAI, model_id: str) -> None:
    reply = client.chat.completions.create(
        model=model_id,
        messages=question("What is the weather?"),
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=MAX_TOKENS,
        temperature=0,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop"  # OpenAI's reason for a forced named call
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function"
    assert calls[0].id.startswith("call_") and calls[0].function.name == "get_weather"
    assert_valid_call("get_weather", calls[0].function.arguments)


def test_required_tool_choice_one_call(client: openai.OpenAI, model_id: str) -> None:
    reply = client.chat.completions.create(
        model=model_id,
        messages=question("Turn on the light."),
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=MAX_TOKENS,
        temperature=0,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1
    assert_valid_call(calls[0].function.name, calls[0].function.arguments)


def test_required_tool_call_streamed(client: openai.OpenAI, model_id: str) -> None:
    options: dict[str, Any] = {
        "model": model_id,
        "messages": question("Turn on the light."),
        "tools": TOOLS,
        "tool_choice": "required",
        "parallel_tool_calls": False,  # the random model would go on listing calls
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }
    whole = client.chat.completions.create(**options)
    deltas = [
        call
        for chunk in client.chat.completions.create(**options, stream=True)
        if chunk.choices
        for call in chunk.choices[0].delta.tool_calls or []
    ]
    first = deltas[0]  # OpenAI's order: index, id, type and name first, then arguments
    assert first.index == 0 and first.id and first.id.startswith("call_")
    assert first.type == "function" and first.function and first.function.name
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    expected = (whole.choices[0].message.tool_calls or [])[0]
    assert first.function.name == expected.function.name
    assert arguments == expected.function.arguments


def test_auto_tool_choice_reads_text_as_text(client: openai.OpenAI, model_id: str) -> None:
    reply = client.chat.completions.create(
        model=model_id,
        messages=question("Hello there"),
        tools=TOOLS,
        max_tokens=8,
        temperature=0,
    )
    choice = reply.choices[0]
    # The random model writes no JSON: its text comes back as text, never as an error.
    assert choice.message.tool_calls is None and choice.message.content
    assert choice.finish_reason in ("stop", "length")


def test_auto_tool_choice_reads_a_call(client: openai.OpenAI, model_id: str) -> None:
    """Under `auto` a reply in the documented call format is read as a call. The random model
    is steered into that format with a response_format shaped like a call."""
    call_format = {
        "type": "json_schema",
        "json_schema": {
            "name": "call",
            "schema": {
                "type": "object",
                "properties": {
                    "name": {"const": "switch_light"},
                    "arguments": LIGHT["function"]["parameters"],
                },
                "required": ["name", "arguments"],
                "additionalProperties": False,
            },
        },
    }
    for stream in (False, True):
        options: dict[str, Any] = {
            "max_tokens": MAX_TOKENS,
            "response_format": call_format,
            "temperature": 0,
        }
        reply = client.chat.completions.create(
            model=model_id, messages=question(), tools=TOOLS, stream=stream, **options
        )
        if stream:
            chunks = [chunk for chunk in reply if chunk.choices]
            calls = [c for chunk in chunks for c in chunk.choices[0].delta.tool_calls or []]
            assert calls[0].function and calls[0].function.name == "switch_light"
            assert chunks[-1].choices[0].finish_reason == "tool_calls"
        else:
            choice = reply.choices[0]
            assert choice.finish_reason == "tool_calls"
            assert (choice.message.tool_calls or [])[0].function.name == "switch_light"


def tool_history() -> list[Any]:
    call = {
        "id": "call_abc",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    }
    return [
        {"role": "developer", "content": "Be brief."},
        user_message("What is the weather where this was taken?", IMAGE),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "-3 C and snow"},
    ]


def test_a_tool_result_turn_is_rendered_as_documented(
    client: openai.OpenAI, model_id: str, base_url: str
) -> None:
    reply = client.chat.completions.create(
        model=model_id, messages=tool_history(), tools=TOOLS, max_tokens=4
    )
    assert reply.choices[0].message.content is not None
    # The same conversation written out as README "Tools" says it is rendered.
    system = "Be brief.\n\n" + tools_text()
    written = [
        {"role": "system", "content": system},
        user_message("What is the weather where this was taken?", IMAGE),
        {"role": "assistant", "content": '{"name": "get_weather", "arguments": {"city": "Oslo"}}'},
        {"role": "user", "content": "Result of get_weather (call call_abc): -3 C and snow"},
    ]
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == tokenize(base_url, model_id, written)["count"]


def tools_text() -> str:
    lines = ["You can call these functions:"]
    for tool in TOOLS:
        function = tool["function"]
        entry = {"name": function["name"], "parameters": function["parameters"]}
        if "description" in function:
            entry["description"] = function["description"]
        lines.append(json.dumps(entry, separators=(", ", ": ")))
    lines.append(
        "To call one of these functions, reply with only a JSON object "
        '{"name": <function name>, "arguments": <the arguments as a JSON object>}, or with a '
        "JSON list of such objects to call several. Otherwise answer normally."
    )
    return "\n".join(lines)


def tokenize(base_url: str, model_id: str, messages: list[Any], **fields: Any) -> dict[str, Any]:
    request = {"model": model_id, "messages": messages, **fields}
    reply = httpx.post(f"{base_url}/tokenize", json=request, timeout=60)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_nulls_developer_and_ignored_fields(base_url: str, model_id: str) -> None:
    body = {
        "model": model_id,
        "messages": [{"role": "developer", "content": "Be brief."}, *question()],
        "max_tokens": 4,
        **dict.fromkeys(
            [
                "n",
                "logprobs",
                "stream",
                "presence_penalty",
                "frequency_penalty",
                "temperature",
                "top_p",
                "stop",
                "seed",
                "tools",
                "tool_choice",
                "response_format",
                "user",
            ]
        ),
        "store": False,
        "metadata": {"team": "vision"},
        "service_tier": "auto",
        "parallel_tool_calls": True,
    }
    reply = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["choices"]) == 1


def test_everything_refused_is_named_in_one_message(base_url: str, model_id: str) -> None:
    body = {"model": model_id, "messages": question(), "kv_transfer_params": {}, "audio": {}}
    reply = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60)
    assert reply.status_code == 400
    assert "'kv_transfer_params', 'audio'" in reply.json()["error"]["message"]


def test_prompt_tokens_details_and_tokenize(
    client: openai.OpenAI, model_id: str, base_url: str
) -> None:
    # Over 128 tokens of text: vLLM's prefix cache keeps whole blocks (128 tokens on CPU).
    text = "Compare these two pictures, their colours and their shapes. " * 14
    messages = [user_message(text, IMAGE, data_url(encode(scene(40, 60, 12))))]
    first = client.chat.completions.create(model=model_id, messages=messages, max_tokens=2)
    again = client.chat.completions.create(model=model_id, messages=messages, max_tokens=2)
    counted = tokenize(base_url, model_id, messages)
    for reply in (first, again):
        assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
        details = reply.usage.prompt_tokens_details.model_dump()
        assert details["image_tokens"] == 2 * 16  # tiny-llava-hf: 16 patches per image
        assert reply.usage.prompt_tokens == counted["count"] == len(counted["tokens"])
    assert again.usage is not None and again.usage.prompt_tokens_details is not None
    assert (again.usage.prompt_tokens_details.cached_tokens or 0) > 0  # vLLM's prefix cache
    streamed = client.chat.completions.create(
        model=model_id,
        messages=messages,
        max_tokens=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = [chunk.usage for chunk in streamed if chunk.usage]
    assert usage and usage[0].prompt_tokens_details is not None
    assert usage[0].prompt_tokens_details.model_dump()["image_tokens"] == 32


@pytest.mark.parametrize(
    "ending",
    [
        {"add_generation_prompt": False},
        {"add_generation_prompt": False, "continue_final_message": True},
    ],
    ids=["no generation prompt", "continue final message"],
)
def test_tokenize_ends_the_prompt_as_chat_does(
    ending: dict[str, bool], client: openai.OpenAI, model_id: str, base_url: str
) -> None:
    messages = [*question(), {"role": "assistant", "content": "It is a"}]
    counted = tokenize(base_url, model_id, messages, **ending)
    reply = client.chat.completions.create(
        model=model_id,
        messages=messages,
        max_tokens=1,
        extra_body={**ending, "return_token_ids": True},
    )
    assert counted["tokens"] == reply.model_dump()["prompt_token_ids"]
    assert counted["count"] != tokenize(base_url, model_id, messages[:-1])["count"]


def test_vllm_extra_fields(client: openai.OpenAI, model_id: str) -> None:
    forced_token = 500
    reply = client.chat.completions.create(
        model=model_id,
        messages=question(),
        max_tokens=5,
        logit_bias={str(forced_token): 100},
        extra_body={"return_token_ids": True, "prompt_logprobs": 1, "min_tokens": 5},
    )
    body = reply.model_dump()
    choice = body["choices"][0]
    assert choice["token_ids"] == [forced_token] * 5
    assert reply.usage is not None
    assert len(body["prompt_token_ids"]) == reply.usage.prompt_tokens
    assert len(body["prompt_logprobs"]) == reply.usage.prompt_tokens
    assert body["prompt_logprobs"][0] is None
    streamed = client.chat.completions.create(
        model=model_id,
        messages=question(),
        max_tokens=5,
        logit_bias={str(forced_token): 100},
        stream=True,
        extra_body={"return_token_ids": True},
    )
    chunks = [chunk.model_dump() for chunk in streamed]
    assert chunks[0]["prompt_token_ids"] == body["prompt_token_ids"]  # on the first chunk only
    assert all("prompt_token_ids" not in chunk for chunk in chunks[1:])
    new_tokens = [
        token
        for chunk in chunks
        for choice in chunk["choices"]
        for token in choice.get("token_ids") or []
    ]
    assert new_tokens == [forced_token] * 5
    stopped = client.chat.completions.create(
        model=model_id,
        messages=question(),
        max_tokens=5,
        logit_bias={str(forced_token): 100},
        extra_body={"stop_token_ids": [forced_token], "return_token_ids": True},
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.model_dump()["choices"][0]["token_ids"] == [forced_token]


def test_truncate_prompt_tokens_keeps_the_end_and_never_cuts_an_image(
    client: openai.OpenAI, model_id: str
) -> None:
    """vLLM's truncate_prompt_tokens on chat: only the prompt's last k tokens (each image
    counted as its tokens) are the prompt, so a history past the context is answered; a cut
    through an image is refused by name, as vLLM refuses it."""
    history: list[Any] = [
        {"role": "user", "content": "one two three " * 2000},  # far past the 512-token context
        {"role": "assistant", "content": "Noted."},
    ]
    reply = client.chat.completions.create(
        model=model_id,
        messages=[*history, *question()],
        max_tokens=2,
        extra_body={"truncate_prompt_tokens": 100},
    )
    assert reply.usage is not None and reply.usage.prompt_tokens == 100
    assert reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.model_dump()["image_tokens"] == 16
    with pytest.raises(openai.BadRequestError, match="would cut the prompt's first image") as cut:
        client.chat.completions.create(
            model=model_id,
            messages=question(),
            max_tokens=2,
            extra_body={"truncate_prompt_tokens": 10},
        )
    assert cut.value.body["param"] == "truncate_prompt_tokens"


def test_cache_salt_keeps_prefix_cache_entries_apart(client: openai.OpenAI, model_id: str) -> None:
    """vLLM's cache_salt: requests share prefix-cache entries only with the same salt (and
    unsalted ones only with unsalted ones), so cache hits tell one tenant nothing about
    another's prompts."""
    text = "List every colour, shape and position you can see, one per line, please. " * 10
    messages = [user_message(text, IMAGE)]

    def cached_tokens(salt: str | None) -> int:
        extra = {"cache_salt": salt} if salt is not None else None
        reply = client.chat.completions.create(
            model=model_id, messages=messages, max_tokens=2, extra_body=extra
        )
        assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
        return reply.usage.prompt_tokens_details.cached_tokens or 0

    cached_tokens(None)
    assert cached_tokens(None) > 0  # over 128 tokens: at least one whole block is cached
    assert cached_tokens("tenant-a") == 0
    assert cached_tokens("tenant-a") > 0
    assert cached_tokens("tenant-b") == 0
