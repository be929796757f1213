"""The HTTP layer as the server configures uvicorn (server/serve.py), run in-process around a
small app: oversized headers are refused with 431 before any parsing cost, X-Forwarded-For is
believed only from configured proxies, and no redirect is built from the Host header."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from server.api.app import create_app
from server.api.http_protocol import MAX_HEADER_BYTES
from server.model_repo import resolve_model
from server.serve import uvicorn_config
from server.settings import REPO_MODEL_DIR, Settings
from tests.support.servers import free_port

START_TIMEOUT_S = 60.0


async def echo_client(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the client address uvicorn put in the scope."""
    if scope["type"] != "http":
        return
    body = json.dumps({"client": scope["client"][0]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serving(settings: Settings) -> Iterator[tuple[str, int]]:
    port = free_port()
    config = uvicorn_config(settings.model_copy(update={"port": port}), echo_client)
    config.lifespan = "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_oversized_headers_get_431_and_the_server_goes_on() -> None:
    with serving(Settings()) as (url, port):
        with socket.create_connection(("127.0.0.1", port), timeout=START_TIMEOUT_S) as sock:
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: test\r\nX-Big: ")
            sock.sendall(b"a" * (16 * MAX_HEADER_BYTES))  # and never ends the headers
            answer = _read_all(sock)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "headers_too_large"
        # Headers under the cap are served as before.
        reply = httpx.get(url, headers={"X-Fine": "b" * (MAX_HEADER_BYTES // 2)}, timeout=30)
        assert reply.status_code == 200


@pytest.mark.parametrize(
    ("trusted", "client"), [([], "127.0.0.1"), (["127.0.0.1/32"], "203.0.113.9")]
)
def test_forwarded_for_is_believed_only_from_configured_proxies(
    trusted: list[str], client: str
) -> None:
    """uvicorn's default believes it from 127.0.0.1: any local process could pose as anyone."""
    with serving(Settings(trusted_proxies=trusted)) as (url, _):
        reply = httpx.get(url, headers={"X-Forwarded-For": "203.0.113.9"}, timeout=30)
    assert reply.json()["client"] == client


def test_no_redirect_is_built_from_the_host_header() -> None:
    """Starlette's trailing-slash redirect wrote the Host header into Location."""
    spec = resolve_model("tiny-llava-hf", REPO_MODEL_DIR)
    app = create_app(Settings(), spec, lambda code: None)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://evil.example") as c:
            return await c.get("/v1/models/")

    reply = asyncio.run(get())
    assert reply.status_code == 404 and "location" not in reply.headers
