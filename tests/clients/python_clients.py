"""Runs LangChain (chat completions and the Responses API), LiteLLM, instructor and OpenAI's
Agents SDK calls against a server, as their users write them.

Run with the clients' venv (.venv/tools/clients, requirements/clients.lock), not the server's:
their pins need not agree with vLLM's. Prints one JSON line per call:
{"call": ..., "ok": bool, "result": ..., "error": ...}. Usage: python_clients.py BASE_URL MODEL
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
import traceback
import zlib
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download


def png_data_url(width: int = 32, height: int = 32) -> str:
    """A red square as a PNG data URL, built with the standard library only."""
    rows = b"".join(b"\x00" + b"\xd0\x20\x20" * width for _ in range(height))

    def block(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + block(b"IHDR", header) + block(b"IDAT", zlib.compress(rows))
    png += block(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


IMAGE = png_data_url()
# The tiny model's tokenizer spells these JSON words in many tokens; greedy, so runs repeat.
MAX_TOKENS = 100  # and the tools prompt (about 410 tokens) stays within the 512 context
# An agent's call takes about 45 tokens; its second turn's prompt (tools, call, result: about
# 434 tokens) and this budget stay within the 512 context.
AGENT_MAX_TOKENS = 60


class Shape(BaseModel):
    """A shape in the picture."""

    colour: Literal["red", "green", "blue"]
    filled: bool
    corners: int = Field(ge=0, le=4)


class Forecast(BaseModel):
    """An agent's final answer. The SDK (as against OpenAI) raises on an `incomplete` response,
    and the random model's free text always runs into its token budget: an enum under
    constrained decoding ends in a few tokens."""

    sky: Literal["sunny", "rainy"]


def get_weather(city: Literal["Paris", "Oslo"]) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def image_message_langchain() -> Any:
    from langchain_core.messages import HumanMessage

    return HumanMessage(
        content=[
            {"type": "text", "text": "Describe the shape."},
            {"type": "image_url", "image_url": {"url": IMAGE}},
        ]
    )


def openai_messages() -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe the shape."},
                {"type": "image_url", "image_url": {"url": IMAGE}},
            ],
        }
    ]


def chat_openai(base_url: str, model: str, **options: Any) -> Any:
    """LangChain's ChatOpenAI on this server, greedy, answers bounded for the tiny model."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model,
        base_url=f"{base_url}/v1",
        api_key="unused",
        max_tokens=MAX_TOKENS,
        temperature=0,
        max_retries=0,
        **options,
    )


def langchain_calls(base_url: str, model: str) -> dict[str, Callable[[], Any]]:
    llm = chat_openai(base_url, model)
    return {
        "langchain invoke (image)": lambda: llm.invoke([image_message_langchain()]).content,
        "langchain with_structured_output (json_schema)": lambda: llm.with_structured_output(
            Shape
        ).invoke([image_message_langchain()]),
        "langchain with_structured_output (function_calling)": lambda: llm.with_structured_output(
            Shape, method="function_calling"
        ).invoke([image_message_langchain()]),
        "langchain with_structured_output (json_mode)": lambda: (
            type(
                llm.with_structured_output(method="json_mode", include_raw=True).invoke(
                    "Reply in JSON."
                )["raw"]
            ).__name__
        ),
        "langchain bind_tools (tool_choice any)": lambda: (
            llm.bind_tools([get_weather], tool_choice="any").invoke("Weather in Oslo?").tool_calls
        ),
        "langchain bind_tools (auto)": lambda: (
            llm.bind_tools([get_weather]).invoke("Weather in Oslo?").content
        ),
    }


def langchain_responses_calls(base_url: str, model: str) -> dict[str, Callable[[], Any]]:
    """ChatOpenAI on /v1/responses (use_responses_api): the same messages and tools, sent as
    input items and flat function tools."""
    llm = chat_openai(base_url, model, use_responses_api=True)
    weather = llm.bind_tools([get_weather], tool_choice="get_weather")
    anything = llm.bind_tools([get_weather], tool_choice="any")
    return {
        "langchain responses invoke (image)": lambda: langchain_image_answer(llm),
        "langchain responses bind_tools (named)": lambda: (
            weather.invoke("Weather in Oslo?").tool_calls
        ),
        "langchain responses bind_tools (any, streamed)": lambda: (
            langchain_streamed(anything, "Weather in Oslo?").tool_calls
        ),
    }


def langchain_image_answer(llm: Any) -> dict[str, Any]:
    """The answer to an image, and the prompt's length with and without that image."""
    answer = llm.invoke([image_message_langchain()])
    without_image = llm.invoke("Describe the shape.")
    return {
        "text": answer.text,
        "status": answer.response_metadata.get("status"),
        "input_tokens": answer.usage_metadata["input_tokens"],
        "input_tokens_without_image": without_image.usage_metadata["input_tokens"],
    }


def langchain_streamed(runnable: Any, prompt: str) -> Any:
    """The streamed chunks added up, as LangChain users do."""
    chunks = iter(runnable.stream(prompt))
    message = next(chunks)
    for chunk in chunks:
        message = message + chunk
    return message


def agents_sdk_calls(base_url: str, model: str) -> dict[str, Callable[[], Any]]:
    """OpenAI's Agents SDK: an agent with one function tool, run on /v1/responses."""
    from agents import Runner, set_tracing_disabled

    set_tracing_disabled(True)  # traces go to OpenAI's servers; none are reachable
    prompt = "Weather in Oslo?"

    def run_sync() -> dict[str, Any]:
        result = Runner.run_sync(weather_agent(base_url, model), prompt, max_turns=3)
        return agent_result(result)

    async def run_streamed() -> dict[str, Any]:
        result = Runner.run_streamed(weather_agent(base_url, model), prompt, max_turns=3)
        events = [stream_event_name(event) async for event in result.stream_events()]
        return {**agent_result(result), "events": events, "complete": result.is_complete}

    return {
        "agents Runner.run_sync (function tool)": run_sync,
        "agents Runner.run_streamed (function tool)": lambda: asyncio.run(run_streamed()),
    }


def weather_agent(base_url: str, model: str) -> Any:
    """A client per run: each run has an event loop of its own. tool_choice `required` makes
    the first turn a call; the SDK then resets it (reset_tool_choice), so the second turn
    answers and the run ends."""
    from agents import Agent, ModelSettings, OpenAIResponsesModel, function_tool
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)
    settings = ModelSettings(
        tool_choice="required",
        parallel_tool_calls=False,  # one call; the random model would go on listing calls
        max_tokens=AGENT_MAX_TOKENS,
        temperature=0,
    )
    return Agent(
        name="weather",
        instructions="Answer briefly.",
        tools=[function_tool(get_weather)],
        output_type=Forecast,
        model=OpenAIResponsesModel(model=model, openai_client=client),
        model_settings=settings,
    )


def agent_result(result: Any) -> dict[str, Any]:
    """The run's final output, its new items (call, the tool's output, the answer) and the
    number of model responses it took."""
    return {
        "final_output": result.final_output.model_dump(),
        "items": [agent_item(item) for item in result.new_items],
        "responses": len(result.raw_responses),
    }


def agent_item(item: Any) -> dict[str, Any]:
    from agents import ItemHelpers, MessageOutputItem, ToolCallItem, ToolCallOutputItem

    if isinstance(item, ToolCallItem):
        call = item.raw_item
        arguments = json.loads(call.arguments)
        return {"type": item.type, "name": call.name, "arguments": arguments, "id": call.call_id}
    if isinstance(item, ToolCallOutputItem):
        return {"type": item.type, "output": item.output, "id": item.raw_item["call_id"]}
    if isinstance(item, MessageOutputItem):
        return {"type": item.type, "text": ItemHelpers.text_message_output(item)}
    return {"type": item.type}


def stream_event_name(event: Any) -> str:
    """The raw Responses event's type, or the SDK's own event's name."""
    if event.type == "raw_response_event":
        return str(event.data.type)
    return f"{event.type}:{getattr(event, 'name', '')}"


def litellm_calls(base_url: str, model: str) -> dict[str, Callable[[], Any]]:
    import litellm

    common: dict[str, Any] = {
        "model": f"openai/{model}",
        "api_base": f"{base_url}/v1",
        "api_key": "unused",
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }
    weather_tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}},
                "required": ["city"],
            },
        },
    }
    return {
        "litellm completion (image)": lambda: (
            litellm.completion(messages=openai_messages(), **common).choices[0].message.content
        ),
        "litellm response_format (pydantic)": lambda: Shape.model_validate_json(
            litellm.completion(messages=openai_messages(), response_format=Shape, **common)
            .choices[0]
            .message.content
        ),
        "litellm tools (required)": lambda: [
            (call.function.name, json.loads(call.function.arguments))
            for call in litellm.completion(
                messages=[{"role": "user", "content": "Weather in Oslo?"}],
                tools=[weather_tool],
                tool_choice="required",
                parallel_tool_calls=False,  # the random model would go on listing calls
                **common,
            )
            .choices[0]
            .message.tool_calls
        ],
    }


def instructor_calls(base_url: str, model: str) -> dict[str, Callable[[], Any]]:
    import instructor
    from openai import OpenAI

    openai_client = OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)

    def ask(mode: Any) -> Shape:
        client = instructor.from_openai(openai_client, mode=mode)
        shape: Shape = client.chat.completions.create(
            model=model,
            messages=openai_messages(),
            response_model=Shape,
            max_tokens=MAX_TOKENS,
            temperature=0,
        )
        return shape

    return {
        "instructor Mode.TOOLS": lambda: ask(instructor.Mode.TOOLS),
        "instructor Mode.JSON_SCHEMA": lambda: ask(instructor.Mode.JSON_SCHEMA),
    }


def run(name: str, call: Callable[[], Any]) -> dict[str, Any]:
    try:
        result = call()
    except Exception as error:  # every failure is reported, the next call still runs
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        return {"call": name, "ok": False, "result": None, "error": detail[-2000:]}
    shown = result.model_dump() if isinstance(result, BaseModel) else result
    return {"call": name, "ok": True, "result": json.loads(json.dumps(shown, default=repr))}


def main() -> None:
    base_url, model = sys.argv[1], sys.argv[2]
    calls: dict[str, Callable[[], Any]] = {}
    groups = (
        langchain_calls,
        langchain_responses_calls,
        litellm_calls,
        instructor_calls,
        agents_sdk_calls,
    )
    for group in groups:
        calls.update(group(base_url, model))
    for name, call in calls.items():
        print(json.dumps(run(name, call)), flush=True)


if __name__ == "__main__":
    main()
