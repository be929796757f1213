"""One Responses stream's events, in OpenAI's order and shape, each numbered:

response.created, response.in_progress, then per output item: for text,
response.output_item.added, response.content_part.added, response.output_text.delta (one per
piece of text), response.output_text.done, response.content_part.done,
response.output_item.done; for each function call, response.output_item.added (arguments
""), response.function_call_arguments.delta (the whole arguments in one delta: chat's tool
stream holds a call until it is complete, server/tools/streaming.py),
response.function_call_arguments.done, response.output_item.done. Then response.completed
(or response.incomplete when the token budget cut the text). A failure after the start is an
`error` event followed by response.failed. No `[DONE]` line: the Responses API ends with its
terminal event."""

from __future__ import annotations

import json
from typing import Any

from server.errors import ServingError
from server.responses.response import (
    ResponseShell,
    TokenCounts,
    function_call_item,
    message_item,
    new_function_call_id,
    new_message_id,
    response_object,
    status_of,
    text_part,
)
from server.tools.calls import ParsedCall
from server.tools.streaming import CallsEvent, FinishEvent, StreamEvent, TextEvent


class ResponseEvents:
    """Text and calls come as chat's tool stream decides them (text or calls, never both), so
    the message, when there is one, is output item 0."""

    def __init__(self, shell: ResponseShell):
        self._shell = shell
        self._sequence = 0
        self._item_id = new_message_id()
        self._pieces: list[str] = []
        self._opened = False
        self._calls: list[dict[str, Any]] = []  # function_call items, as sent done
        self._finish_reason: str | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        data = json.dumps(payload, separators=(",", ":"))
        return f"event: {kind}\ndata: {data}\n\n".encode()

    def _in_item(self, kind: str, **fields: Any) -> bytes:
        return self._event(kind, item_id=self._item_id, output_index=0, content_index=0, **fields)

    def start(self) -> list[bytes]:
        snapshot = response_object(self._shell, "in_progress", [])
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def feed(self, event: StreamEvent) -> list[bytes]:
        if isinstance(event, TextEvent):
            return self.delta(event.text)
        if isinstance(event, CallsEvent):
            return [sent for call in event.calls for sent in self._call(call)]
        assert isinstance(event, FinishEvent)
        self._finish_reason = event.reason
        return []

    def _open(self) -> list[bytes]:
        if self._opened:
            return []
        self._opened = True
        item = message_item(self._item_id, "in_progress", None)
        return [
            self._event("response.output_item.added", output_index=0, item=item),
            self._in_item("response.content_part.added", part=text_part("")),
        ]

    def delta(self, text: str) -> list[bytes]:
        events = self._open()
        if text:
            self._pieces.append(text)
            events.append(self._in_item("response.output_text.delta", delta=text, logprobs=[]))
        return events

    def _call(self, call: ParsedCall) -> list[bytes]:
        index = len(self._calls) + int(self._opened)
        item_id = new_function_call_id()
        done = function_call_item(item_id, call, "completed")
        self._calls.append(done)
        at: dict[str, Any] = {"item_id": item_id, "output_index": index}
        arguments = call.arguments
        return [
            self._event(
                "response.output_item.added",
                output_index=index,
                item=function_call_item(item_id, call, "in_progress"),
            ),
            self._event("response.function_call_arguments.delta", **at, delta=arguments),
            self._event(
                "response.function_call_arguments.done", **at, name=call.name, arguments=arguments
            ),
            self._event("response.output_item.done", output_index=index, item=done),
        ]

    def finish(self, counts: TokenCounts) -> list[bytes]:
        status = status_of(self._finish_reason)
        events: list[bytes] = []
        output = list(self._calls)
        if self._opened or not self._calls:  # an answer of nothing is an empty message
            events, message = self._close_message(status)
            output.insert(0, message)
        final = response_object(self._shell, status, output, counts)
        return [*events, self._event(f"response.{status}", response=final)]

    def _close_message(self, status: str) -> tuple[list[bytes], dict[str, Any]]:
        events = self._open()
        text = "".join(self._pieces)
        item = message_item(self._item_id, status, text)
        events += [
            self._in_item("response.output_text.done", text=text, logprobs=[]),
            self._in_item("response.content_part.done", part=text_part(text)),
            self._event("response.output_item.done", output_index=0, item=item),
        ]
        return events, item

    def fail(self, error: ServingError) -> list[bytes]:
        code = error.code or error.error_type
        failed = response_object(
            self._shell, "failed", [], error={"code": code, "message": error.message}
        )
        return [
            self._event("error", code=code, message=error.message, param=error.param),
            self._event("response.failed", response=failed),
        ]
