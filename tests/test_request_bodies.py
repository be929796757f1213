"""Request bodies are read whole before a request takes an admission slot: uploads that stall
hold no slot and get 408 once the body-read timeout passes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest

from tests.ops_support import EVENT_TIMEOUT_S, ServerProcess, own_server, short_request

MAX_RUNNING, MAX_WAITING = 2, 2
READ_TIMEOUT_S = 3
MAX_BYTES = 1024 * 1024


@pytest.fixture(scope="module")
def body_server(
    tmp_path_factory: pytest.TempPathFactory, home: Path, tiny_checkpoint: Path
) -> Iterator[ServerProcess]:
    settings = {
        "max_running_requests": str(MAX_RUNNING),
        "max_waiting_requests": str(MAX_WAITING),
        "body_read_timeout_s": str(READ_TIMEOUT_S),
        "max_request_bytes": str(MAX_BYTES),
    }
    with own_server(tmp_path_factory, home, settings) as server:
        yield server


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=EVENT_TIMEOUT_S)
    return sock


def _head(length: int, *extra: str) -> bytes:
    lines = [
        "POST /v1/chat/completions HTTP/1.1",
        "Host: test",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and the rest of the response (read until the server closes)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    status_line = data.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), data


def test_stalled_uploads_take_no_slot_and_get_408(
    body_server: ServerProcess, model_id: str
) -> None:
    """More stalled uploads than running and queued slots together: a normal request is still
    answered (not 429), and each stalled one gets 408 when its read timeout passes."""
    stalled = []
    for _ in range(MAX_RUNNING + MAX_WAITING + 2):
        sock = _connect(body_server.url)
        sock.sendall(_head(200) + b"{")  # 1 byte of the 200 announced, then nothing
        stalled.append(sock)
    client = openai.OpenAI(base_url=f"{body_server.url}/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(**short_request(model_id))
    assert reply.choices[0].message.content
    for sock in stalled:
        with sock:
            status, data = _answer(sock)
        assert status == 408, data[:300]
        assert b'"code":"body_read_timeout"' in data
