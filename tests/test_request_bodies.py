"""Request bodies are read whole before a request takes an admission slot: uploads that stall
hold no slot and get 408 once the body-read timeout passes; a body over the cap is read and
thrown away, so the client gets its 413 (the OpenAI SDK an APIStatusError), never a reset."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import openai
import pytest

from tests.ops_support import EVENT_TIMEOUT_S, short_request
from tests.support.pool import OPS_MAX_REQUEST_BYTES as MAX_BYTES
from tests.support.pool import OPS_MAX_RUNNING as MAX_RUNNING
from tests.support.pool import OPS_MAX_WAITING as MAX_WAITING
from tests.support.servers import RemoteServer


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


def test_stalled_uploads_take_no_slot_and_get_408(ops_server: RemoteServer, model_id: str) -> None:
    """More stalled uploads than running and queued slots together: a normal request is still
    answered (not 429), and each stalled one gets 408 when its read timeout passes."""
    stalled = []
    for _ in range(MAX_RUNNING + MAX_WAITING + 2):
        sock = _connect(ops_server.url)
        sock.sendall(_head(200) + b"{")  # 1 byte of the 200 announced, then nothing
        stalled.append(sock)
    client = openai.OpenAI(base_url=f"{ops_server.url}/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(**short_request(model_id))
    assert reply.choices[0].message.content
    for sock in stalled:
        with sock:
            status, data = _answer(sock)
        assert status == 408, data[:300]
        assert b'"code":"body_read_timeout"' in data


def test_sdk_gets_413_for_a_body_over_the_cap(ops_server: RemoteServer, model_id: str) -> None:
    client = openai.OpenAI(base_url=f"{ops_server.url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": "a" * (3 * MAX_BYTES)}]
        )
    assert refused.value.status_code == 413
    assert "larger than" in refused.value.message


def test_413_arrives_while_the_client_is_still_sending(ops_server: RemoteServer) -> None:
    """A client that asks to close after its request and sends a body three times the cap in
    pieces: the server reads and drops the rest, so every byte is accepted and the 413 read
    (before, the server answered at once and closed: the client got a connection reset)."""
    size = 3 * MAX_BYTES
    with _connect(ops_server.url) as sock:
        sock.sendall(_head(size, "Connection: close"))
        piece = b"a" * 65536
        for _ in range(size // len(piece)):
            sock.sendall(piece)
        status, data = _answer(sock)
    assert status == 413, data[:300]
    assert b"larger than" in data
