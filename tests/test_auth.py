"""API keys, CORS and request ids on a second real server started with keys (from a flag and a
file) and otherwise default security settings, so it also shows that a default-configured server
refuses loopback image URLs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from server.api.auth import load_api_keys
from server.errors import ConfigError
from server.settings import Settings
from tests.conftest import running_server
from tests.images import data_url, encode, scene, user_message

FLAG_KEYS = ["key-one-0123456789", "key-two-0123456789"]
FILE_KEY = "key-from-file-0123456789"
ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def keyed_url(
    home: Path, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("keyed-server")
    key_file = folder / "keys.txt"
    key_file.write_text(f"# operator keys\n{FILE_KEY}\n\n")
    args = ["--api-keys", ",".join(FLAG_KEYS), "--api-keys-file", str(key_file)]
    args += ["--cors-allowed-origins", ORIGIN]
    with running_server(args, home, folder) as url:
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


def test_probes_need_no_key(keyed_url: str) -> None:
    assert httpx.get(f"{keyed_url}/health", timeout=30).status_code == 200
    assert httpx.get(f"{keyed_url}/ready?verbose=1", timeout=30).status_code == 200


def test_missing_and_wrong_keys_get_401_in_the_openai_envelope(keyed_url: str) -> None:
    for headers in (
        {},
        bearer("wrong"),
        {"Authorization": "Basic a2V5LW9uZQ=="},
        {"Authorization": "Bearer"},
    ):
        response = httpx.get(f"{keyed_url}/v1/models", headers=headers, timeout=30)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        error = response.json()["error"]
        assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"


@pytest.mark.parametrize("key", [*FLAG_KEYS, FILE_KEY])
def test_every_configured_key_works(keyed_url: str, key: str) -> None:
    response = httpx.get(f"{keyed_url}/v1/models", headers=bearer(key), timeout=30)
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


def test_chat_with_a_key_through_the_sdk(keyed_url: str, model_id: str) -> None:
    sdk = openai.OpenAI(base_url=f"{keyed_url}/v1", api_key=FLAG_KEYS[1], max_retries=0)
    image = data_url(encode(scene(32, 32, 3)))
    messages: list[Any] = [user_message("Hi", image)]
    reply = sdk.chat.completions.create(model=model_id, messages=messages, max_tokens=3)
    assert reply.choices[0].message.content is not None
    denied = openai.OpenAI(base_url=f"{keyed_url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        denied.models.list()


def test_default_server_refuses_loopback_image_urls(
    keyed_url: str, model_id: str, image_host: tuple[str, Path]
) -> None:
    """No media_allowed_networks here: the local image server on 127.0.0.1 is refused."""
    host, folder = image_host
    (folder / "auth-test.png").write_bytes(encode(scene(32, 32, 4)))
    for url in (f"{host}/auth-test.png", "http://localhost/x.png", "http://[::1]/x.png"):
        body = {"model": model_id, "messages": [user_message("Hi", url)], "max_tokens": 2}
        response = httpx.post(
            f"{keyed_url}/v1/chat/completions", json=body, headers=bearer(FILE_KEY), timeout=60
        )
        assert response.status_code == 400, response.text
        assert "loopback" in response.json()["error"]["message"]


def test_request_id_is_echoed_or_generated(keyed_url: str) -> None:
    given = httpx.get(f"{keyed_url}/v1/models", headers={"X-Request-Id": "trace-42"}, timeout=30)
    assert given.status_code == 401 and given.headers["x-request-id"] == "trace-42"
    made = httpx.get(f"{keyed_url}/v1/models", headers=bearer(FILE_KEY), timeout=30)
    assert len(made.headers["x-request-id"]) >= 16


def test_cors_only_for_configured_origins(keyed_url: str, base_url: str) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    allowed = httpx.options(f"{keyed_url}/v1/chat/completions", headers=preflight, timeout=30)
    assert allowed.headers.get("access-control-allow-origin") == ORIGIN
    other = {**preflight, "Origin": "https://evil.example"}
    refused = httpx.options(f"{keyed_url}/v1/chat/completions", headers=other, timeout=30)
    assert "access-control-allow-origin" not in refused.headers
    # The shared server has no CORS origins configured: CORS is off.
    off = httpx.options(f"{base_url}/v1/chat/completions", headers=preflight, timeout=30)
    assert "access-control-allow-origin" not in off.headers


def test_key_file_problems_fail_start_up(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(ConfigError, match="no key"):
        load_api_keys(Settings(api_keys_file=empty))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_api_keys(Settings(api_keys_file=tmp_path / "missing.txt"))
    assert load_api_keys(Settings()) == ()
