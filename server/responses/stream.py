"""One Responses stream's events, in OpenAI's order and shape, each numbered:

response.created, response.in_progress, response.output_item.added,
response.content_part.added, response.output_text.delta (one per piece of text),
response.output_text.done, response.content_part.done, response.output_item.done, then
response.completed (or response.incomplete when the token budget cut the text). A failure
after the start is an `error` event followed by response.failed. No `[DONE]` line: the
Responses API ends with its terminal event."""

from __future__ import annotations

import json
from typing import Any

from server.errors import ServingError
from server.responses.response import (
    ResponseShell,
    TokenCounts,
    message_item,
    new_message_id,
    response_object,
    status_of,
    text_part,
)


class ResponseEvents:
    def __init__(self, shell: ResponseShell):
        self._shell = shell
        self._sequence = 0
        self._item_id = new_message_id()
        self._pieces: list[str] = []
        self._opened = False

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

    def finish(self, finish_reason: str | None, counts: TokenCounts) -> list[bytes]:
        events = self._open()
        text = "".join(self._pieces)
        status = status_of(finish_reason)
        item = message_item(self._item_id, status, text)
        final = response_object(self._shell, status, [item], counts)
        return [
            *events,
            self._in_item("response.output_text.done", text=text, logprobs=[]),
            self._in_item("response.content_part.done", part=text_part(text)),
            self._event("response.output_item.done", output_index=0, item=item),
            self._event(f"response.{status}", response=final),
        ]

    def fail(self, error: ServingError) -> list[bytes]:
        code = error.code or error.error_type
        failed = response_object(
            self._shell, "failed", [], error={"code": code, "message": error.message}
        )
        return [
            self._event("error", code=code, message=error.message, param=error.param),
            self._event("response.failed", response=failed),
        ]
