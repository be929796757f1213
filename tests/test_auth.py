"""API keys, CORS and request ids, in-process (the app with keys from a flag and a file and one
CORS origin; no engine needed), and a default-configured real server refusing loopback image
URLs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import pytest
from fastapi import FastAPI

from server.api.auth import load_api_keys
from server.errors import ConfigError
from server.settings import Settings
from tests.images import encode, scene, user_message
from tests.support.inprocess import app_without_engine, request, sdk, served_on_a_thread
from tests.support.servers import RemoteServer

FLAG_KEYS = ["key-one-0123456789", "key-two-0123456789"]
FILE_KEY = "key-from-file-0123456789"
ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def keyed_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    key_file = tmp_path_factory.mktemp("keys") / "keys.txt"
    key_file.write_text(f"# operator keys\n{FILE_KEY}\n\n")
    return app_without_engine(
        api_keys=FLAG_KEYS, api_keys_file=key_file, cors_allowed_origins=[ORIGIN]
    )


@pytest.fixture(scope="module")
def keyed_url(keyed_app: FastAPI) -> Iterator[str]:
    """The keyed app behind uvicorn's HTTP parser, for request lines sent exactly as written."""
    with served_on_a_thread(keyed_app) as url:
        yield url


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def raw_status(base_url: str, request_line: str, host: str | None = None) -> int:
    """Sends a request exactly as written (no client-side path normalisation)."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = f"{request_line}\r\nHost: {host or parts.netloc}\r\nConnection: close\r\n"
        sock.sendall((head + "Content-Length: 0\r\n\r\n").encode())
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_probes_need_no_key(keyed_app: FastAPI) -> None:
    assert request(keyed_app, "GET", "/health").status_code == 200
    ready = request(keyed_app, "GET", "/ready?verbose=1")  # answered, though not ready here
    assert ready.status_code == 503 and ready.json() == {"status": "not ready"}


def test_missing_and_wrong_keys_get_401_in_the_openai_envelope(keyed_app: FastAPI) -> None:
    for headers in (
        {},
        bearer("wrong"),
        {"Authorization": "Basic a2V5LW9uZQ=="},
        {"Authorization": "Bearer"},
    ):
        response = request(keyed_app, "GET", "/v1/models", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        error = response.json()["error"]
        assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"


@pytest.mark.parametrize("key", [*FLAG_KEYS, FILE_KEY])
def test_every_configured_key_works(keyed_app: FastAPI, key: str) -> None:
    response = request(keyed_app, "GET", "/v1/models", headers=bearer(key))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "request_line",
    [
        "GET /v1/models HTTP/1.1",
        "GET //v1/models HTTP/1.1",
        "GET /v1/models/ HTTP/1.1",
        "GET /V1/MODELS HTTP/1.1",
        "GET /v1/./models HTTP/1.1",
        "GET /v1/%6dodels HTTP/1.1",
        "GET /health/../v1/models HTTP/1.1",
        "GET /health/ HTTP/1.1",
        "GET /metrics HTTP/1.1",
        "GET /openapi.json HTTP/1.1",
        "GET /docs HTTP/1.1",
        "GET /no/such/route HTTP/1.1",
        "GET /static/../v1/models HTTP/1.1",
        "POST /v1/chat/completions HTTP/1.1",
        "PUT /v1/chat/completions HTTP/1.1",
        "DELETE /v1/models HTTP/1.1",
        "PATCH /v1/models HTTP/1.1",
        "HEAD /v1/models HTTP/1.1",
        "OPTIONS /v1/chat/completions HTTP/1.1",
        "GET http://127.0.0.1/v1/models HTTP/1.1",
    ],
)
def test_every_route_spelling_and_method_needs_a_key(keyed_url: str, request_line: str) -> None:
    assert raw_status(keyed_url, request_line) == 401


def test_playground_page_loads_without_a_key_but_its_api_calls_need_one(keyed_url: str) -> None:
    """A browser cannot send a key to load a page: the page and its files are open, the page
    then sends the key the user types (tests/test_playground.py), and the API stays closed."""
    assert raw_status(keyed_url, "GET / HTTP/1.1") == 200
    assert raw_status(keyed_url, "GET /static/main.js HTTP/1.1") == 200
    assert raw_status(keyed_url, "GET /static/no-such-file.js HTTP/1.1") == 401
    assert raw_status(keyed_url, "GET /v1/models HTTP/1.1") == 401


def test_exemption_uses_the_path_the_router_sees(keyed_url: str) -> None:
    """The key check reads the same decoded path as routing: /%68ealth IS /health (exempt),
    and /v1/%6dodels IS /v1/models (needs a key); no spelling is exempt yet routed elsewhere."""
    assert raw_status(keyed_url, "GET /%68ealth HTTP/1.1") == 200
    assert raw_status(keyed_url, "GET /v1/%6dodels HTTP/1.1") == 401


@pytest.mark.parametrize("host", ["localhost", "evil.example", "127.0.0.1:1", "[::1]"])
def test_host_header_does_not_bypass_the_key(keyed_url: str, host: str) -> None:
    assert raw_status(keyed_url, "GET /v1/models HTTP/1.1", host=host) == 401
    assert raw_status(keyed_url, "GET /health HTTP/1.1", host=host) == 200


def test_the_sdk_sends_the_key(keyed_app: FastAPI) -> None:
    """With a key the SDK gets past the check: the model list, and the chat route itself (which
    answers 503 here, the model never loading in-process); without one it is refused."""

    async def scenario() -> None:
        allowed, denied = sdk(keyed_app, FLAG_KEYS[1]), sdk(keyed_app, "nope")
        assert [model.id for model in (await allowed.models.list()).data] == ["tiny-llava-hf"]
        messages: list[Any] = [user_message("Hi")]
        with pytest.raises(openai.InternalServerError, match="still loading"):
            await allowed.chat.completions.create(model="tiny-llava-hf", messages=messages)
        with pytest.raises(openai.AuthenticationError):
            await denied.chat.completions.create(model="tiny-llava-hf", messages=messages)
        with pytest.raises(openai.AuthenticationError):
            await denied.models.list()
        await allowed.close()
        await denied.close()

    asyncio.run(scenario())


def test_default_server_refuses_loopback_image_urls(
    ops_server: RemoteServer, image_host: tuple[str, Path]
) -> None:
    """The operations profile keeps the default media settings (no media_allowed_networks):
    the local image server on 127.0.0.1 is refused, and so are the other loopback forms."""
    host, folder = image_host
    (folder / "auth-test.png").write_bytes(encode(scene(32, 32, 4)))
    for url in (f"{host}/auth-test.png", "http://localhost/x.png", "http://[::1]/x.png"):
        body = {"model": "tiny-llava-hf", "messages": [user_message("Hi", url)], "max_tokens": 2}
        response = httpx.post(f"{ops_server.url}/v1/chat/completions", json=body, timeout=60)
        assert response.status_code == 400, response.text
        assert "loopback" in response.json()["error"]["message"]


def test_request_id_is_echoed_or_generated(keyed_app: FastAPI) -> None:
    given = request(keyed_app, "GET", "/v1/models", headers={"X-Request-Id": "trace-42"})
    assert given.status_code == 401 and given.headers["x-request-id"] == "trace-42"
    made = request(keyed_app, "GET", "/v1/models", headers=bearer(FILE_KEY))
    assert len(made.headers["x-request-id"]) >= 16


def test_cors_only_for_configured_origins(keyed_app: FastAPI) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    allowed = request(keyed_app, "OPTIONS", "/v1/chat/completions", headers=preflight)
    assert allowed.headers.get("access-control-allow-origin") == ORIGIN
    other = {**preflight, "Origin": "https://evil.example"}
    refused = request(keyed_app, "OPTIONS", "/v1/chat/completions", headers=other)
    assert "access-control-allow-origin" not in refused.headers
    # No CORS origins configured (the default): CORS is off.
    off = request(app_without_engine(), "OPTIONS", "/v1/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in off.headers


def test_key_file_problems_fail_start_up(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(ConfigError, match="no key"):
        load_api_keys(Settings(api_keys_file=empty))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_api_keys(Settings(api_keys_file=tmp_path / "missing.txt"))
    assert load_api_keys(Settings()) == ()
