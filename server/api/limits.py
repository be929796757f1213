"""Request body cap: 413 before the body is read when Content-Length is too large, and as soon as
a streamed (chunked) body passes the cap, so no request can make the server buffer gigabytes."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import PayloadTooLargeError, serving_error_response


class BodyTooLarge(HTTPException):
    """Raised inside the app's receive() when a streamed body passes the cap; an HTTPException
    so FastAPI's body reader passes it on (as 413) instead of turning it into a 400."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"The request body is larger than the {max_bytes}-byte limit.")


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLargeError(
            f"The request body is larger than the {self.max_bytes}-byte limit.", param="body"
        )
        # No "Connection: close": uvicorn discards the unread rest of the body without storing
        # it, and a client still sending gets its 413 instead of a connection reset.
        await serving_error_response(error)(scope, receive, send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
