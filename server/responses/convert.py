"""A Responses request -> the chat-completions request it means, so that prompt building,
images, limits, sampling and tools are chat's own: `instructions` is a system message,
`developer` is `system`, input_text / input_image / output_text parts are text / image_url /
text parts; function_call items are the `tool_calls` of an assistant message (consecutive
ones, and a call right after an assistant message, make one message, as chat carries a turn
of text and calls), function_call_output items are `tool` messages; flat function tools and
tool_choice take chat's nested shapes."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from server.chat.schemas import ChatCompletionRequest
from server.errors import BadRequestError
from server.responses.content_parts import ContentPart, InputImage
from server.responses.schemas import (
    InputItem,
    JsonSchemaFormat,
    MessageItem,
    ResponsesRequest,
)
from server.responses.tool_schemas import (
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionToolChoice,
)


def chat_request(request: ResponsesRequest) -> ChatCompletionRequest:
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        messages.append({"role": "user", "content": request.input})
    else:
        messages += _messages(request.input)
    body = {
        "model": request.model,
        "messages": messages,
        "max_completion_tokens": request.max_output_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": bool(request.stream),
        "response_format": _response_format(request),
        **_tool_fields(request),
    }
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as error:  # checked above already; a safety net, not a 500
        first = error.errors()[0]
        raise BadRequestError(f"Invalid input: {first['msg']}.", param="input") from error


def _response_format(request: ResponsesRequest) -> dict[str, Any] | None:
    """text.format in chat's shape: json_schema's fields move under `json_schema`."""
    output_format = request.text.format if request.text is not None else None
    if not isinstance(output_format, JsonSchemaFormat):
        return None if output_format is None else {"type": output_format.type}
    spec = output_format.model_dump(by_alias=True, exclude={"type"}, exclude_none=True)
    return {"type": "json_schema", "json_schema": spec}


def _tool_fields(request: ResponsesRequest) -> dict[str, Any]:
    """Chat's tools, tool_choice and parallel_tool_calls; none without tools (then tool_choice
    `auto` or `none` is neutral)."""
    if not request.tools:
        return {}
    tools = [
        {"type": "function", "function": tool.model_dump(exclude={"type"}, exclude_none=True)}
        for tool in request.tools
    ]
    choice: Any = request.tool_choice
    if isinstance(choice, FunctionToolChoice):
        choice = {"type": "function", "function": {"name": choice.name}}
    return {
        "tools": tools,
        "tool_choice": choice,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
    }


def _messages(items: list[InputItem]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if isinstance(item, FunctionCallItem):
            _add_call(messages, item)
        elif isinstance(item, FunctionCallOutputItem):
            messages.append(_tool_result(item))
        else:
            messages.append(_message(item, index))
    return messages


def _add_call(messages: list[dict[str, Any]], item: FunctionCallItem) -> None:
    call = {
        "id": item.call_id,
        "type": "function",
        "function": {"name": item.name, "arguments": item.arguments},
    }
    if messages and messages[-1]["role"] == "assistant":
        messages[-1].setdefault("tool_calls", []).append(call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _tool_result(item: FunctionCallOutputItem) -> dict[str, Any]:
    content: str | list[dict[str, Any]] = ""
    if isinstance(item.output, str):
        content = item.output
    elif item.output:
        content = [{"type": "text", "text": part.text} for part in item.output]
    return {"role": "tool", "tool_call_id": item.call_id, "content": content}


def _message(item: MessageItem, index: int) -> dict[str, Any]:
    role = "system" if item.role == "developer" else item.role
    if isinstance(item.content, str):
        return {"role": role, "content": item.content}
    parts = [
        _part(part, role, f"input.{index}.content.{at}") for at, part in enumerate(item.content)
    ]
    return {"role": role, "content": parts}


def _part(part: ContentPart, role: str, param: str) -> dict[str, Any]:
    if isinstance(part, InputImage):
        if role != "user":
            raise BadRequestError(
                f"Only user messages may carry images, not {role} messages.", param=param
            )
        image_url: dict[str, Any] = {"url": part.image_url}
        if part.detail is not None:
            image_url["detail"] = part.detail
        return {"type": "image_url", "image_url": image_url}
    return {"type": "text", "text": part.text}
