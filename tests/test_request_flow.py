"""How a request flows through the middleware stack, in-process (no engine): the stack's order,
the engine request id's shape, and what the access log records, derived from what was sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from server.api.access_log import AccessLogMiddleware
from server.api.app import create_app
from server.api.auth import ApiKeyMiddleware
from server.api.engine_ids import mint_engine_request_id
from server.api.lifecycle import ChatLifecycleMiddleware
from server.api.limits import BodyReaderMiddleware
from server.api.paths import CHAT_COMPLETIONS, GENERATION_ROUTES
from server.model_repo import resolve_model
from server.settings import REPO_MODEL_DIR, Settings


def _app(**settings: object) -> object:
    """The app without its lifespan: the model never loads, so it is never ready."""
    spec = resolve_model("tiny-llava-hf", REPO_MODEL_DIR)
    return create_app(Settings(**settings), spec, lambda code: None)  # type: ignore[arg-type]


def test_the_middleware_stack_is_declared_outermost_first() -> None:
    app = _app(api_keys=["k"], cors_allowed_origins=["https://app.example"])
    stack = [middleware.cls for middleware in app.user_middleware]  # type: ignore[attr-defined]
    assert stack == [
        AccessLogMiddleware,
        CORSMiddleware,
        ApiKeyMiddleware,
        BodyReaderMiddleware,
        ChatLifecycleMiddleware,
    ]


def test_engine_request_ids_carry_the_route_prefix_and_the_request_id() -> None:
    assert GENERATION_ROUTES[CHAT_COMPLETIONS] == "chatcmpl-"
    first, second = (mint_engine_request_id("chatcmpl-", "trace-42") for _ in range(2))
    assert re.fullmatch(r"chatcmpl-trace-42-[0-9a-f]{8}", first)
    assert first != second  # a client reusing its X-Request-Id still gets unique engine ids


def _requests_counted(route: str, status: str) -> float:
    labels = {"route": route, "status": status}
    return REGISTRY.get_sample_value("llava_serve_requests_total", labels) or 0.0


def test_a_chat_request_refused_before_routing_is_counted_under_the_chat_route() -> None:
    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app())  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(CHAT_COMPLETIONS, json={})

    before = _requests_counted(CHAT_COMPLETIONS, "503")
    reply = asyncio.run(post())
    assert reply.status_code == 503 and reply.json()["error"]["type"] == "service_unavailable"
    assert _requests_counted(CHAT_COMPLETIONS, "503") == before + 1


async def _unfinished_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """What a stream looks like once the lifecycle middleware stopped it for a client gone."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"data: {}\n\n", "more_body": True})


async def _finished_answer(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}", "more_body": False})


async def _failing_answer(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("boom")


def _logged_status(app: object, caplog: pytest.LogCaptureFixture) -> int:
    scope: Scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "client": None}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        pass

    caplog.clear()
    # The failing app's error goes on up (to Starlette's error middleware, in the server).
    quiet = contextlib.suppress(RuntimeError)
    with caplog.at_level(logging.INFO, logger="llava_serve.access"), quiet:
        asyncio.run(AccessLogMiddleware(app)(scope, receive, send))  # type: ignore[arg-type]
    (record,) = caplog.records
    status: int = record.status  # type: ignore[attr-defined]
    return status


def test_the_access_log_derives_the_status_from_what_was_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert _logged_status(_finished_answer, caplog) == 201
    assert _logged_status(_unfinished_stream, caplog) == 499  # its client went away
    assert _logged_status(_failing_answer, caplog) == 500


def test_every_4xx_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    async def requests() -> list[int]:
        app = _app(api_keys=["k"], max_request_bytes=1024)
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        keyed = {"Authorization": "Bearer k"}
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            replies = [
                await client.get("/v1/models"),  # 401: no key
                await client.get("/v1/nowhere", headers=keyed),  # 404
                await client.get(CHAT_COMPLETIONS, headers=keyed),  # 405
                await client.post(CHAT_COMPLETIONS, headers=keyed, content=b"x" * 2048),  # 413
            ]
        return [reply.status_code for reply in replies]

    with caplog.at_level(logging.INFO, logger="server.errors"):
        statuses = asyncio.run(requests())
    assert statuses == [401, 404, 405, 413]
    logged = [record for record in caplog.records if record.name == "server.errors"]
    assert [record.levelno for record in logged] == [logging.INFO] * 4
    assert [record.status for record in logged] == statuses  # type: ignore[attr-defined]
    messages = [record.getMessage() for record in logged]
    assert "Missing API key" in messages[0] and "1024-byte limit" in messages[3]
