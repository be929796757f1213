"""Outermost middleware: gives each request an id (X-Request-Id in, or a new one; echoed back),
writes one JSON access-log line per request, and counts requests and latency by route."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import metrics
from server.api.paths import GENERATION_ROUTES
from server.logging_setup import REQUEST_ID

logger = logging.getLogger("llava_serve.access")

# Probes and scrapes hit these every few seconds (503s while loading or draining are expected):
# counted, but logged only at debug level; engine death and drains have their own log lines.
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Status recorded for a request whose client went away before the answer (nginx's convention).
CLIENT_CLOSED_REQUEST = 499


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id  # for the layers inside
        started = time.monotonic()
        sent = _SentResponse()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            sent.observe(message)
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            failed = True
            raise
        finally:
            status = 500 if failed else sent.final_status
            _record(scope, status, time.monotonic() - started, request_id)
            REQUEST_ID.reset(token)


class _SentResponse:
    """What went out for one request: its status, and whether its body was finished."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.complete = False

    def observe(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True

    @property
    def final_status(self) -> int:
        """The status sent; 499 for an answer never finished (its client went away first: the
        lifecycle middleware stops a request whose client is gone)."""
        if self.status is None or not self.complete:
            return CLIENT_CLOSED_REQUEST
        return self.status


def _request_id(scope: Scope) -> str:
    """The client's X-Request-Id when it is a sane token, so traces join up; else a new one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = str(value.decode("latin-1"))
            if _CLIENT_ID.fullmatch(text):
                return text
    return uuid.uuid4().hex


def _route_label(scope: Scope) -> str:
    """The matched route's template (bounded cardinality); a generation path also when the
    lifecycle middleware answered before routing (429, 503); 'unmatched' for 404s."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if path is None and scope["path"] in GENERATION_ROUTES:
        path = scope["path"]
    return str(path) if path else "unmatched"


def _record(scope: Scope, status: int, elapsed: float, request_id: str) -> None:
    route = _route_label(scope)
    metrics.REQUESTS.labels(route=route, status=str(status)).inc()
    metrics.REQUEST_LATENCY.labels(route=route).observe(elapsed)
    level = logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO
    logger.log(
        level,
        "%s %s %d",
        scope["method"],
        scope["path"],
        status,
        extra={
            "request_id": request_id,
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_s": round(elapsed, 6),
            "client": (scope.get("client") or ("", 0))[0],
        },
    )
