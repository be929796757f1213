"""SIGTERM under load: /ready turns 503 at once, new requests are refused, the running and the
queued requests all finish, then the process exits 0 and leaves no child process behind."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import psutil
import pytest

from tests.ops_support import (
    CHAT_ROUTE,
    EVENT_TIMEOUT_S,
    ServerProcess,
    long_request,
    metric,
    own_server,
    scrape,
    short_request,
    timing_sensitive,
    value,
    wait_for,
)

# One running, three queued: the drain lasts four back-to-back generations, long enough
# for the checks below even on a fast machine.
MAX_RUNNING, MAX_WAITING = 1, 3


@pytest.fixture(scope="module")
def draining_server(
    tmp_path_factory: pytest.TempPathFactory, home: Path, tiny_checkpoint: Path
) -> Iterator[ServerProcess]:
    settings = {
        "max_running_requests": str(MAX_RUNNING),
        "max_waiting_requests": str(MAX_WAITING),
        "drain_timeout_s": str(EVENT_TIMEOUT_S),
    }
    with own_server(tmp_path_factory, home, settings) as server:
        yield server


async def _complete(client: openai.AsyncOpenAI, body: dict[str, Any]) -> list[str | None]:
    """Finish reasons of every choice; a request cut by the shutdown raises instead."""
    reply = await client.chat.completions.create(**body)
    return [choice.finish_reason for choice in reply.choices]


def _refusal_while_draining(url: str, model_id: str) -> dict[str, Any]:
    reply = httpx.post(f"{url}{CHAT_ROUTE}", json=short_request(model_id), timeout=30)
    assert reply.status_code == 503
    error: dict[str, Any] = reply.json()["error"]
    return error


async def _fill_every_slot(
    client: openai.AsyncOpenAI, url: str, model_id: str
) -> list[asyncio.Future[list[str | None]]] | None:
    """Four long requests, until one running and three queued are seen; None if one finished
    first (the tiny model is quick on a fast machine), for the caller to try again."""
    # Not streamed: parsing 16 streams of 480 chunks would starve this process's polling.
    bodies = [long_request(model_id) for _ in range(4)]
    in_flight = [asyncio.ensure_future(_complete(client, body)) for body in bodies]
    # The scrape runs in a thread so this event loop keeps sending the requests meanwhile.
    while await asyncio.to_thread(metric, url, "llava_serve_requests_waiting") != MAX_WAITING:
        if any(task.done() for task in in_flight):
            await asyncio.gather(*in_flight)
            return None
    return in_flight  # three queued: the one slot is taken (admission queues only then)


async def _scenario(server: ServerProcess, model_id: str) -> int:
    """Returns how many rounds of four requests it took to catch every slot taken."""
    url = server.url
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    rounds, in_flight = 1, await _fill_every_slot(client, url, model_id)
    while in_flight is None and rounds < 10:
        rounds, in_flight = rounds + 1, await _fill_every_slot(client, url, model_id)
    assert in_flight is not None, "never saw every slot taken before a request finished"

    server.process.send_signal(signal.SIGTERM)
    await asyncio.to_thread(
        wait_for,
        lambda: httpx.get(f"{url}/ready").status_code == 503,
        "/ready to turn 503 after SIGTERM",
    )
    assert httpx.get(f"{url}/health").status_code == 200  # draining is not dying
    error = await asyncio.to_thread(_refusal_while_draining, url, model_id)
    assert error["type"] == "service_unavailable" and "shutting down" in error["message"]
    samples = scrape(url)
    assert value(samples, "llava_serve_rejections_total", reason="draining") == 1
    assert not all(task.done() for task in in_flight), "drain checks ran after the requests"

    results = await asyncio.gather(*in_flight)
    await client.close()
    for reasons in results:  # every in-flight request finished in full
        assert len(reasons) == 8 and all(r in ("stop", "length") for r in reasons)
    return rounds


@timing_sensitive
def test_sigterm_drains_in_flight_requests_then_exits_0(
    draining_server: ServerProcess, model_id: str
) -> None:
    children = psutil.Process(draining_server.process.pid).children(recursive=True)
    assert children, "vLLM's engine-core process should be a child of the server"
    rounds = asyncio.run(_scenario(draining_server, model_id))
    assert draining_server.process.wait(timeout=EVENT_TIMEOUT_S) == 0, draining_server.log()
    assert "drained; shutting down" in draining_server.log()
    _, alive = psutil.wait_procs(children, timeout=EVENT_TIMEOUT_S)
    assert not alive, f"child processes left behind: {alive}"
    _assert_json_access_log(draining_server.log_path, completed=4 * rounds)


def _assert_json_access_log(log_path: Path, completed: int) -> None:
    """The access log is JSON lines with the request id: the completed chats, 1 refused."""
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line[:1] == "{"]
    chats = [
        line
        for line in lines
        if line["logger"] == "llava_serve.access" and line["path"] == CHAT_ROUTE
    ]
    assert sorted(line["status"] for line in chats) == [200] * completed + [503]
    assert all(len(line["request_id"]) == 32 and line["duration_s"] > 0 for line in chats)
