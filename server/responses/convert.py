"""A Responses request -> the chat-completions request it means, so that prompt building,
images, limits and sampling are chat's own: `instructions` is a system message, `developer`
is `system`, input_text / input_image / output_text parts are text / image_url / text parts."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from server.chat.schemas import ChatCompletionRequest
from server.errors import BadRequestError
from server.responses.schemas import (
    ContentPart,
    InputImage,
    JsonSchemaFormat,
    MessageItem,
    ResponsesRequest,
)


def chat_request(request: ResponsesRequest) -> ChatCompletionRequest:
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        messages.append({"role": "user", "content": request.input})
    else:
        messages += [_message(item, index) for index, item in enumerate(request.input)]
    body = {
        "model": request.model,
        "messages": messages,
        "max_completion_tokens": request.max_output_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": bool(request.stream),
        "response_format": _response_format(request),
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
