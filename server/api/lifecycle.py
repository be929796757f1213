"""The life of one generation request around its route: refused while loading, draining or dead;
admitted under the bounds (429 past them); given its engine request id (handed down to the
route in the request's state); aborted when its client goes away or its deadline passes.
Cancelling the route's task aborts the engine request (vLLM's generate aborts on
cancellation), which Starlette never does by itself for a non-streaming handler."""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import suppress

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import metrics
from server.admission import Admission
from server.api.engine_ids import STATE_KEY, mint_engine_request_id
from server.api.paths import GENERATION_ROUTES
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
    """Around the generation routes (paths.GENERATION_ROUTES) only; other requests pass."""

    def __init__(self, app: ASGIApp, state: ServerState, admission: Admission):
        self.app = app
        self.state = state
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix = _generation_prefix(scope)
        if prefix is None:
            await self.app(scope, receive, send)
            return
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
        request_state = scope.setdefault("state", {})
        request_id = request_state.get("request_id") or uuid.uuid4().hex
        engine_request_id = mint_engine_request_id(prefix, request_id)
        request_state[STATE_KEY] = engine_request_id  # handed down to the route
        try:
            await self._serve(scope, _Exchange(receive, send), deadline, engine_request_id)
        finally:
            self.admission.release()

    async def _serve(
        self, scope: Scope, exchange: _Exchange, deadline: float, engine_request_id: str
    ) -> None:
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
                await self._client_gone(engine_request_id)
            return
        route.cancel()
        with suppress(asyncio.CancelledError):
            await route
        if disconnected:
            await self._client_gone(engine_request_id)
            return
        await self._abort_engine_request(engine_request_id)
        metrics.ABORTS.labels(reason="deadline").inc()
        logger.warning("request passed its %g s deadline; engine request aborted", timeout_s)
        await _answer_deadline(scope, exchange, DeadlineExceededError(timeout_s))

    async def _client_gone(self, engine_request_id: str) -> None:
        """The response stays unfinished: the access log records it as 499 by itself."""
        await self._abort_engine_request(engine_request_id)
        metrics.ABORTS.labels(reason="client_disconnected").inc()
        logger.info("client disconnected; engine request aborted")

    async def _abort_engine_request(self, engine_request_id: str) -> None:
        """Cancelling a non-streaming route aborts its engine request (vLLM's generate is
        interrupted mid-await). A stream cancelled while sending leaves its generator
        suspended, and vLLM would abort only once the garbage collector closes it: meanwhile
        the engine generates for nobody. So the engine request is aborted by id (a no-op for
        one already finished or aborted)."""
        engine = self.state.engine
        if engine is not None and not engine.is_dead:
            await engine.abort(engine_request_id)


def _generation_prefix(scope: Scope) -> str | None:
    """The id prefix of a generation route's POST; None for every other request."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    return GENERATION_ROUTES.get(scope["path"])


async def _refuse(
    error: ServingError, reason: str, scope: Scope, receive: Receive, send: Send
) -> None:
    metrics.REJECTIONS.labels(reason=reason).inc()
    await serving_error_response(error)(scope, receive, send)


async def _answer_deadline(scope: Scope, exchange: _Exchange, error: ServingError) -> None:
    """A 504 if nothing was sent yet; the error as the last SSE event if a stream had started
    (the access log then records the 200 that was sent; the warning above names the deadline)."""
    if not exchange.started:
        await serving_error_response(error)(scope, exchange.receive, exchange.send)
        return
    if exchange.complete:
        return
    body = sse(serving_error_body(error)) + SSE_DONE if exchange.event_stream else b""
    await exchange.send({"type": "http.response.body", "body": body, "more_body": False})
