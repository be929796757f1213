"""The Responses API's objects as plain dicts: the response, its output items (the assistant
message, function calls), usage.

A generation cut by the token budget is `incomplete` with reason `max_output_tokens`, as
OpenAI reports it; one that ended on its own (EOS or a stop) is `completed`."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from server.responses.schemas import ResponsesRequest
from server.responses.tool_schemas import FunctionToolChoice
from server.tools.calls import ParsedCall, ToolOutput

OUTPUT_TEXT = "output_text"


@dataclass(frozen=True)
class ResponseShell:
    """What every snapshot of one response shares: identity and the request's settings."""

    id: str
    created_at: int
    model: str
    request: ResponsesRequest
    temperature: float
    top_p: float


@dataclass(frozen=True)
class TokenCounts:
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int  # prompt tokens computed and written to vLLM's prefix cache
    image_tokens: int


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def status_of(finish_reason: str | None) -> str:
    return "incomplete" if finish_reason == "length" else "completed"


def text_part(text: str) -> dict[str, Any]:
    return {"type": OUTPUT_TEXT, "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, status: str, text: str | None) -> dict[str, Any]:
    """The assistant's message; text None: just opened, no content part yet."""
    content = [] if text is None else [text_part(text)]
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def new_function_call_id() -> str:
    return f"fc_{uuid.uuid4().hex}"


def function_call_item(item_id: str, call: ParsedCall, status: str) -> dict[str, Any]:
    """One call the model made (call_id is chat's tool-call id); `in_progress` with empty
    arguments when a stream opens it."""
    arguments = "" if status == "in_progress" else call.arguments
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call.id,
        "name": call.name,
    }


def output_items(read: ToolOutput, status: str) -> list[dict[str, Any]]:
    """The assistant message (when there is text, or nothing at all), then one item per call."""
    calls = [function_call_item(new_function_call_id(), call, "completed") for call in read.calls]
    if read.content is None and calls:
        return calls
    return [message_item(new_message_id(), status, read.content or ""), *calls]


def usage(counts: TokenCounts) -> dict[str, Any]:
    return {
        "input_tokens": counts.input_tokens,
        # image_tokens: this server's addition, the share of input tokens that stand for images.
        "input_tokens_details": {
            "cached_tokens": counts.cached_tokens,
            "cache_write_tokens": counts.cache_write_tokens,
            "image_tokens": counts.image_tokens,
        },
        "output_tokens": counts.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": counts.input_tokens + counts.output_tokens,
    }


def _output_format(request: ResponsesRequest) -> dict[str, Any]:
    output_format = request.text.format if request.text is not None else None
    if output_format is None:
        return {"type": "text"}
    return output_format.model_dump(by_alias=True, exclude_none=True)


def _tool_choice(request: ResponsesRequest) -> Any:
    choice = request.tool_choice
    if isinstance(choice, FunctionToolChoice):
        return choice.model_dump()
    return choice or "auto"


def _tools(request: ResponsesRequest) -> list[dict[str, Any]]:
    return [tool.model_dump() for tool in request.tools or []]


def response_object(
    shell: ResponseShell,
    status: str,
    output: list[dict[str, Any]],
    counts: TokenCounts | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    request = shell.request
    incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
    return {
        "id": shell.id,
        "object": "response",
        "created_at": shell.created_at,
        "completed_at": int(time.time()) if status == "completed" else None,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": request.max_tool_calls,
        "model": shell.model,
        "output": output,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": False,  # nothing is kept: this server is stateless
        "temperature": shell.temperature,
        "text": {"format": _output_format(request), "verbosity": "medium"},
        "tool_choice": _tool_choice(request),
        "tools": _tools(request),
        "top_logprobs": 0,
        "top_p": shell.top_p,
        "truncation": "disabled",
        "usage": None if counts is None else usage(counts),
        "user": request.user,
        "metadata": request.metadata or {},
    }
