"""Responses: the request becomes the chat request it means (server/responses/convert.py), is
prepared by chat (prompt, images, limits, sampling, tools) and runs on chat's engine
machinery; the output is read as text or tool calls by chat's reader (server/tools/). Only
the answer's shape is the Responses API's. Stateless: no response is stored."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from vllm.outputs import RequestOutput

from server.chat.service import ChatService, PreparedChat
from server.errors import BadRequestError, ServingError
from server.responses.convert import chat_request
from server.responses.response import (
    ResponseShell,
    TokenCounts,
    output_items,
    response_object,
    status_of,
)
from server.responses.schemas import ResponsesRequest
from server.responses.stream import ResponseEvents
from server.tools.calls import ToolCallReader, ToolOutput
from server.tools.streaming import FinishEvent, StreamEvent, TextEvent, ToolCallStream

logger = logging.getLogger(__name__)

# Chat's words for what the Responses API calls otherwise, in the errors chat raises.
CHAT_TO_RESPONSES_TERMS = {
    "messages": "input",
    "max_tokens": "max_output_tokens",
    "response_format.json_schema.schema": "text.format.schema",
    "response_format": "text.format",
    "function.parameters": "parameters",  # tools.N.function.parameters: Responses tools are flat
}


@dataclass(frozen=True)
class PreparedResponse:
    shell: ResponseShell
    chat: PreparedChat


class ResponsesService:
    """Built per request over the server's ChatService: no state of its own."""

    def __init__(self, chat: ChatService):
        self._chat = chat

    async def prepare(self, request: ResponsesRequest, request_id: str) -> PreparedResponse:
        if request.previous_response_id is not None:
            raise BadRequestError(
                "This server does not store responses (it is stateless, whatever `store` "
                "says), so previous_response_id cannot be resolved: send the earlier turns "
                "in `input` instead.",
                param="previous_response_id",
            )
        as_chat = chat_request(request)
        try:
            prepared = await self._chat.prepare(as_chat, request_id)
        except BadRequestError as error:
            raise in_responses_terms(error) from error
        params = prepared.params
        header = prepared.header
        shell = ResponseShell(
            request_id, header.created, header.model, request, params.temperature, params.top_p
        )
        return PreparedResponse(shell, prepared)

    async def complete(self, prepared: PreparedResponse) -> dict[str, Any]:
        final: RequestOutput | None = None
        async for output in self._chat.generate(prepared.chat):
            final = output
        if final is None or not final.outputs:
            raise ServingError("The engine returned no output.")
        completion = final.outputs[0]
        text = prepared.chat.options.answer_start().text(0, completion.text)
        read = _read(prepared.chat.options.tools, text, completion.finish_reason)
        status = status_of(read.finish_reason)
        counts = _token_counts(final, len(completion.token_ids), prepared.chat.image_tokens)
        return response_object(prepared.shell, status, output_items(read, status), counts)

    async def stream(self, prepared: PreparedResponse) -> AsyncIterator[bytes]:
        events = ResponseEvents(prepared.shell)
        for event in events.start():
            yield event
        reader = prepared.chat.options.tools
        tool_stream = ToolCallStream(reader) if reader is not None else None
        start = prepared.chat.options.answer_start()
        prefilled: RequestOutput | None = None  # the output that reports the prompt's counts
        output_tokens = 0
        try:
            async for output in self._chat.generate(prepared.chat):
                prefilled = output if output.prompt_token_ids else prefilled
                for completion in output.outputs:
                    output_tokens += len(completion.token_ids)
                    text = start.text(completion.index, completion.text)
                    for piece in _stream_events(tool_stream, text, completion.finish_reason):
                        for event in events.feed(piece):
                            yield event
        except ServingError as error:
            logger.warning("stream %s failed: %s", prepared.shell.id, error.message)
            for event in events.fail(error):
                yield event
            return
        image_tokens = prepared.chat.image_tokens
        counts = (
            _token_counts(prefilled, output_tokens, image_tokens)
            if prefilled is not None
            else TokenCounts(0, output_tokens, 0, 0, image_tokens)
        )
        for event in events.finish(counts):
            yield event


def _token_counts(prefilled: RequestOutput, output_tokens: int, image_tokens: int) -> TokenCounts:
    """The prompt's counts as the engine reported them at prefill, with the output's."""
    return TokenCounts(
        input_tokens=len(prefilled.prompt_token_ids or ()),
        output_tokens=output_tokens,
        cached_tokens=prefilled.num_cached_tokens or 0,
        cache_write_tokens=prefilled.num_cache_creation_tokens or 0,
        image_tokens=image_tokens,
    )


def _read(reader: ToolCallReader | None, text: str, finish_reason: str | None) -> ToolOutput:
    """The output as chat reads it: text, or calls when tools may be called."""
    if reader is None:
        return ToolOutput(text, [], finish_reason)
    return reader.read(text, finish_reason)


def _stream_events(
    tool_stream: ToolCallStream | None, text: str, finish_reason: str | None
) -> list[StreamEvent]:
    """One delta output as chat's tool stream events (without tools: its text as it comes)."""
    if tool_stream is not None:
        return tool_stream.feed(text, finish_reason)
    events: list[StreamEvent] = [TextEvent(text)]
    if finish_reason is not None:
        events.append(FinishEvent(finish_reason))
    return events


def in_responses_terms(error: BadRequestError) -> BadRequestError:
    """The parameter path always; the message's field names only (not its prose)."""
    message, param = error.message, error.param
    for chat_term, responses_term in CHAT_TO_RESPONSES_TERMS.items():
        if param is not None:
            param = param.replace(chat_term, responses_term)
        if "_" in chat_term or "." in chat_term:
            message = message.replace(chat_term, responses_term)
    return BadRequestError(message, param=param, code=error.code)
