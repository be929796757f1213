"""The life of one chat request around the route: refused while loading, draining or dead;
admitted under the bounds (429 past them); aborted when its client goes away or its deadline
passes. Cancelling the route's task aborts the engine request (vLLM's generate aborts on
cancellation), which Starlette never does by itself for a non-streaming handler."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import metrics
from server.admission import Admission
from server.api.access_log import CLIENT_CLOSED_REQUEST
from server.api.state import ServerState, not_ready_reason
from server.chat.response import SSE_DONE, sse
from server.errors import (
    DeadlineExceededError,
    NotReadyError,
    ServingError,
    serving_error_body,
    serving_error_response,
)

logger = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
# Every route that runs the engine goes through the same admission, deadline and abort.
GENERATION_PATHS = frozenset({CHAT_PATH, "/v1/completions", "/v1/responses"})


class _Exchange:
    """Watches one request's ASGI messages: body fully read, response started or complete."""

    def __init__(self, receive: Receive, send: Send):
        self._receive = receive
        self._send = send
        self.body_read = asyncio.Event()
        self.started = False
        self.complete = False
        self.event_stream = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            self.body_read.set()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            headers = dict(message.get("headers", []))
            self.event_stream = headers.get(b"content-type", b"").startswith(b"text/event-stream")
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self._send(message)

    async def client_gone(self) -> None:
        """Returns when the client disconnects (only listened for once the body is read)."""
        await self.body_read.wait()
        while (await self._receive())["type"] != "http.disconnect":
            pass


class ChatLifecycleMiddleware:
    def __init__(self, app: ASGIApp, state: ServerState, admission: Admission):
        self.app = app
        self.state = state
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or path not in GENERATION_PATHS or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["route"] = path
        if not self.state.accepting:
            reason = "draining" if self.state.draining else "not_ready"
            await _refuse(NotReadyError(not_ready_reason(self.state)), reason, scope, receive, send)
            return
        timeout_s = self.state.settings.request_timeout_s
        deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                await self.admission.acquire()
        except ServingError as error:
            await _refuse(error, "overloaded", scope, receive, send)
            return
        except TimeoutError:
            metrics.ABORTS.labels(reason="deadline").inc()
            await serving_error_response(DeadlineExceededError(timeout_s))(scope, receive, send)
            return
        try:
            await self._serve(scope, _Exchange(receive, send), deadline)
        finally:
            self.admission.release()

    async def _serve(self, scope: Scope, exchange: _Exchange, deadline: float) -> None:
        """Runs the route; whichever comes first of its end, a disconnect or the deadline wins."""
        timeout_s = self.state.settings.request_timeout_s
        remaining = deadline - asyncio.get_running_loop().time()
        route = asyncio.ensure_future(self.app(scope, exchange.receive, exchange.send))
        gone = asyncio.ensure_future(exchange.client_gone())
        try:
            await asyncio.wait(
                {route, gone}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            route.cancel()  # we are cancelled (shutdown past its grace): take the route along
            raise
        finally:
            disconnected = gone.done()
            gone.cancel()
        if route.done() or (disconnected and exchange.complete):
            await route  # finished (uvicorn reports "disconnect" once a response is complete)
            if exchange.started and not exchange.complete:  # a stream whose client left
                await self._client_gone(scope)
            return
        route.cancel()
        with suppress(asyncio.CancelledError):
            await route
        if disconnected:
            await self._client_gone(scope)
            return
        await self._abort_engine_request(scope)
        metrics.ABORTS.labels(reason="deadline").inc()
        logger.warning("request passed its %g s deadline; engine request aborted", timeout_s)
        await _answer_deadline(scope, exchange, DeadlineExceededError(timeout_s))

    async def _client_gone(self, scope: Scope) -> None:
        await self._abort_engine_request(scope)
        metrics.ABORTS.labels(reason="client_disconnected").inc()
        scope["state"]["final_status"] = CLIENT_CLOSED_REQUEST
        logger.info("client disconnected; engine request aborted")

    async def _abort_engine_request(self, scope: Scope) -> None:
        """Cancelling a non-streaming route aborts its engine request (vLLM's generate is
        interrupted mid-await). A stream cancelled while sending leaves its generator
        suspended, and vLLM would abort only once the garbage collector closes it: meanwhile
        the engine generates for nobody. So the engine request is aborted by id (a no-op for
        one already finished or aborted)."""
        request_id = scope["state"].get("engine_request_id")
        engine = self.state.engine
        if request_id is not None and engine is not None and not engine.is_dead:
            await engine.abort(request_id)


async def _refuse(
    error: ServingError, reason: str, scope: Scope, receive: Receive, send: Send
) -> None:
    metrics.REJECTIONS.labels(reason=reason).inc()
    await serving_error_response(error)(scope, receive, send)


async def _answer_deadline(scope: Scope, exchange: _Exchange, error: ServingError) -> None:
    """A 504 if nothing was sent yet; the error as the last SSE event if a stream had started."""
    if not exchange.started:
        await serving_error_response(error)(scope, exchange.receive, exchange.send)
        return
    scope["state"]["final_status"] = error.status_code
    if exchange.complete:
        return
    body = sse(serving_error_body(error)) + SSE_DONE if exchange.event_stream else b""
    await exchange.send({"type": "http.response.body", "body": body, "more_body": False})
