"""uvicorn's httptools protocol with a cap on the request line and headers: httptools has none,
and gathers a header in pieces (a 128 MiB header took 41 s of event loop before any middleware,
API key check included, saw the request). Past the cap: 431, then what still comes is thrown
away unparsed for a moment (so the client can read the answer instead of a reset), then the
connection is closed."""

from __future__ import annotations

import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("llava_serve.access")

# The request line and headers together; nginx allows 4 x 8 KiB, Node.js 16 KiB. Room for
# long cookies and tokens, far from what can hurt.
MAX_HEADER_BYTES = 64 * 1024
# After a 431, how long the rest is read and dropped before the connection is closed.
LINGER_S = 2.0


def _refusal() -> bytes:
    message = f"The request line and headers are larger than the {MAX_HEADER_BYTES}-byte limit."
    body = json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "headers_too_large",
            }
        }
    ).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class HeaderCappedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._in_headers = False
        self._header_bytes = 0
        self._refused = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # dropped unparsed until the linger ends
        super().data_received(data)
        if not self._in_headers or self.transport.is_closing():
            return
        # Still inside the headers after this chunk: all of it was header bytes (a chunk that
        # also ended a previous request's body is counted whole: an overestimate of one read).
        self._header_bytes += len(data)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._refuse()

    def _refuse(self) -> None:
        self._refused = True
        client = self.client[0] if self.client else ""
        logger.warning("431: request headers over %d bytes from %s", MAX_HEADER_BYTES, client)
        self.transport.write(_refusal())
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)
