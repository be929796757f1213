"""A client that goes away (streaming or not) aborts its engine request; a request past the
server's deadline is aborted and answered with a clear error. The engine's counts return to
zero and the aborted sequences never finish in vLLM."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.ops_support import (
    CHAT_ROUTE,
    engine_idle,
    frozen_engine,
    long_request,
    metric,
    scrape,
    short_request,
    value,
    wait_for,
    wait_in_engine,
)
from tests.support.pool import DEADLINE_S
from tests.support.servers import RemoteServer


def _finished_sequences(base_url: str) -> float:
    return _finished(scrape(base_url))


def _finished(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    """Sequences vLLM finished normally (stop or length), from vLLM's own counter."""
    return value(samples, "vllm:request_success_total", finished_reason="length") + value(
        samples, "vllm:request_success_total", finished_reason="stop"
    )


def _assert_aborted_in_engine(base_url: str, model_id: str, finished_before: float) -> None:
    wait_for(lambda: engine_idle(base_url), "the engine to hold no request")
    # One short request afterwards: its step refreshes vLLM's scheduler stats.
    reply = httpx.post(f"{base_url}{CHAT_ROUTE}", json=short_request(model_id), timeout=120)
    assert reply.status_code == 200
    samples = scrape(base_url)
    assert value(samples, "llava_serve_engine_running_requests") == 0
    assert value(samples, "vllm:num_requests_running") == 0
    # Only the short request finished: the 8 sequences of the aborted one never did.
    assert _finished_sequences(base_url) == finished_before + 1


def test_non_streaming_disconnect_aborts_the_engine_request(
    base_url: str, base_server_pid: int, model_id: str
) -> None:
    aborted_before = metric(base_url, "llava_serve_aborts_total", reason="client_disconnected")
    closed_before = metric(base_url, "llava_serve_requests_total", route=CHAT_ROUTE, status="499")
    finished_before = _finished_sequences(base_url)

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=300) as http:
            request = asyncio.ensure_future(
                http.post(f"{base_url}{CHAT_ROUTE}", json=long_request(model_id))
            )
            await asyncio.to_thread(wait_in_engine, base_url)
            request.cancel()  # closes the connection: the client is gone
            with pytest.raises(asyncio.CancelledError):
                await request

    # Frozen, the engine holds the request until the disconnect has been seen and the abort
    # sent; thawed, it must drop the request rather than finish it.
    with frozen_engine(base_server_pid):
        asyncio.run(scenario())
        wait_for(
            lambda: (
                metric(base_url, "llava_serve_aborts_total", reason="client_disconnected")
                == aborted_before + 1
            ),
            "the server to count the disconnect",
        )
    _assert_aborted_in_engine(base_url, model_id, finished_before)
    # The access log records the request as closed by its client (nginx's 499).
    closed = metric(base_url, "llava_serve_requests_total", route=CHAT_ROUTE, status="499")
    assert closed == closed_before + 1


def test_streaming_disconnect_aborts_the_engine_request(
    base_url: str, base_server_pid: int, model_id: str
) -> None:
    body = long_request(model_id, stream=True)
    for _ in range(ATTEMPTS):
        finished_before = _finished_sequences(base_url)
        _hang_up_mid_stream(base_url, base_server_pid, body, finished_before)
        wait_for(lambda: engine_idle(base_url), "the engine to hold no request")
        if _finished_sequences(base_url) == finished_before:
            break  # caught in flight (otherwise the engine had finished first: again)
    _assert_aborted_in_engine(base_url, model_id, finished_before)


# The engine streams on without waiting for the client, so on a fast machine a request can
# finish before the test freezes it; the streaming scenario then tries again.
ATTEMPTS = 10


def _hang_up_mid_stream(
    base_url: str, server_pid: int, body: dict[str, Any], finished_before: float
) -> None:
    aborted_before = metric(base_url, "llava_serve_aborts_total", reason="client_disconnected")

    def settled() -> bool:
        """The hang-up was seen (in flight), or vLLM finished all the request's sequences
        (it had run to its end before the freeze): one of the two always comes."""
        samples = scrape(base_url)
        aborted = value(samples, "llava_serve_aborts_total", reason="client_disconnected")
        return aborted > aborted_before or _finished(samples) >= finished_before + body["n"]

    with httpx.stream("POST", f"{base_url}{CHAT_ROUTE}", json=body, timeout=300) as stream:
        assert stream.status_code == 200
        next(line for line in stream.iter_lines() if '"content"' in line)
        # Tokens are flowing. Frozen, the engine makes no progress until the hang-up below
        # has been seen and the abort sent; thawed, it must drop the request.
        with frozen_engine(server_pid):
            stream.close()
            wait_for(settled, "the hang-up to be seen or the request to have finished")


def test_deadline_aborts_a_non_streaming_request(
    deadline_server: RemoteServer, model_id: str
) -> None:
    url = deadline_server.url
    finished_before = _finished_sequences(url)
    reply = httpx.post(f"{url}{CHAT_ROUTE}", json=long_request(model_id), timeout=300)
    assert reply.status_code == 504
    error = reply.json()["error"]
    assert error["type"] == "timeout_error" and error["code"] == "deadline_exceeded"
    assert f"{DEADLINE_S:g} s" in error["message"]
    assert metric(url, "llava_serve_aborts_total", reason="deadline") >= 1
    _assert_aborted_in_engine(url, model_id, finished_before)


def test_deadline_ends_a_stream_with_an_error_event(
    deadline_server: RemoteServer, model_id: str
) -> None:
    url = deadline_server.url
    finished_before = _finished_sequences(url)
    body = long_request(model_id, stream=True)
    with httpx.stream("POST", f"{url}{CHAT_ROUTE}", json=body, timeout=300) as stream:
        if stream.status_code == 504:  # the deadline passed before the first token: plain 504
            error = json.loads(stream.read())["error"]
        else:
            assert stream.status_code == 200
            events = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
            assert events[-1] == "[DONE]"
            error = json.loads(events[-2])["error"]
    assert error["code"] == "deadline_exceeded"
    _assert_aborted_in_engine(url, model_id, finished_before)
