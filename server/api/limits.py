"""The request body, read whole before anything inside runs: bounded in size (413) and in time
(408). So a slow or partial upload holds no admission slot (admission is inside), and no body can
make the server buffer more than the cap. A body over the cap is read and thrown away up to a
bound, as nginx's lingering close does: a client still sending gets its 413, not a reset."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import (
    BodyReadTimeoutError,
    PayloadTooLargeError,
    ServingError,
    serving_error_response,
)

# A body over the cap is discarded up to this many times the cap (within the read timeout);
# past that the connection is closed on the sender (then it may see a reset).
DISCARD_FACTOR = 4


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class BodyReaderMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout_s: float):
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        # Past the discard bound reading is pointless; a client waiting for "100 Continue"
        # has sent nothing yet: either way answer at once.
        if declared > self.max_bytes * DISCARD_FACTOR or (
            declared > self.max_bytes and _expects_continue(scope)
        ):
            await _answer_and_close(self._too_large(), scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.read_timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            await _answer_and_close(BodyReadTimeoutError(self.read_timeout_s), scope, receive, send)
            return
        except _BodyTooLarge:
            await _answer_and_close(self._too_large(), scope, receive, send)
            return
        except _ClientGone:
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        """The whole body; past the cap, the rest is read and dropped (to the discard bound)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_bytes:
                chunks.append(chunk)
            else:
                chunks.clear()  # nothing of an oversized body is kept
            if size > self.max_bytes * DISCARD_FACTOR:
                raise _BodyTooLarge
            if not message.get("more_body", False):
                break
        if size > self.max_bytes:
            raise _BodyTooLarge
        return b"".join(chunks)

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"The request body is larger than the {self.max_bytes}-byte limit.", param="body"
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """The app's receive(): the buffered body first, then the connection's own messages (so a
    disconnect is still seen)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer_and_close(
    error: ServingError, scope: Scope, receive: Receive, send: Send
) -> None:
    """The error, then the connection closed: what is left of the body is never parsed as a
    next request."""
    response = serving_error_response(error)
    response.headers["connection"] = "close"
    await response(scope, receive, send)


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return bytes(value)
    return None


def _declared_length(scope: Scope) -> int:
    value = _header(scope, b"content-length")
    return int(value) if value is not None and value.isdigit() else 0


def _expects_continue(scope: Scope) -> bool:
    return (_header(scope, b"expect") or b"").lower() == b"100-continue"
