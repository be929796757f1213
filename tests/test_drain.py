"""SIGTERM under load: /ready turns 503 at once, new requests are refused, the running and the
queued requests all finish, then the process exits 0 and leaves no child process behind. The
server is the operations profile's (2 running + 2 queued), after its other users are done."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import httpx
import openai
import psutil
import pytest

from tests.ops_support import (
    CHAT_ROUTE,
    EVENT_TIMEOUT_S,
    frozen_engine,
    long_request,
    scrape,
    sdk_arguments,
    short_request,
    slots_taken,
    value,
    wait_for,
)
from tests.support.pool import OPS_MAX_RUNNING as MAX_RUNNING
from tests.support.pool import OPS_MAX_WAITING as MAX_WAITING
from tests.support.servers import RemoteServer


async def _complete(client: openai.AsyncOpenAI, body: dict[str, Any]) -> list[str | None]:
    """Finish reasons of every choice; a request cut by the shutdown raises instead."""
    reply = await client.chat.completions.create(**sdk_arguments(body))
    return [choice.finish_reason for choice in reply.choices]


def _refusal_while_draining(url: str, model_id: str) -> dict[str, Any]:
    reply = httpx.post(f"{url}{CHAT_ROUTE}", json=short_request(model_id), timeout=30)
    assert reply.status_code == 503
    error: dict[str, Any] = reply.json()["error"]
    return error


async def _scenario(server: RemoteServer, model_id: str) -> None:
    url = server.url
    client = server.async_client()
    # Frozen, the engine holds the running request and the queue stays full while the
    # drain is checked; thawed, all four must finish in full before the process exits.
    with frozen_engine(server.pid):
        # Not streamed: parsing 32 streams of 480 chunks would starve this test's polling.
        bodies = [long_request(model_id) for _ in range(MAX_RUNNING + MAX_WAITING)]
        in_flight = [asyncio.ensure_future(_complete(client, body)) for body in bodies]
        # Polled in a thread so this event loop keeps sending the requests meanwhile.
        await asyncio.to_thread(
            wait_for, lambda: slots_taken(url, MAX_RUNNING, MAX_WAITING), "every slot taken"
        )

        server.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(
            wait_for,
            lambda: httpx.get(f"{url}/ready").status_code == 503,
            "/ready to turn 503 after SIGTERM",
        )
        assert httpx.get(f"{url}/health").status_code == 200  # draining is not dying
        error = await asyncio.to_thread(_refusal_while_draining, url, model_id)
        assert error["type"] == "service_unavailable" and "shutting down" in error["message"]
        assert value(scrape(url), "llava_serve_rejections_total", reason="draining") == 1
        assert not any(task.done() for task in in_flight)

    results = await asyncio.gather(*in_flight)
    await client.close()
    for reasons in results:  # every in-flight request finished in full
        assert reasons == ["length"] * 8


@pytest.mark.takes_server("ops")
def test_sigterm_drains_in_flight_requests_then_exits_0(
    taken_server: RemoteServer, model_id: str
) -> None:
    children = psutil.Process(taken_server.pid).children(recursive=True)
    assert children, "vLLM's engine-core process should be a child of the server"
    log_before = taken_server.log_path.stat().st_size  # earlier tests' lines are not this one's
    asyncio.run(_scenario(taken_server, model_id))
    assert taken_server.process.wait(timeout=EVENT_TIMEOUT_S) == 0, taken_server.log()
    assert "drained; shutting down" in taken_server.log()
    _, alive = psutil.wait_procs(children, timeout=EVENT_TIMEOUT_S)
    assert not alive, f"child processes left behind: {alive}"
    _assert_json_access_log(taken_server.log_path, log_before, MAX_RUNNING + MAX_WAITING)


def _assert_json_access_log(log_path: Path, start: int, completed: int) -> None:
    """The access log from byte `start` on is JSON lines with the request id: the completed
    chats, 1 refused."""
    with log_path.open("rb") as log:
        log.seek(start)
        text = log.read().decode(errors="replace")
    lines = [json.loads(line) for line in text.splitlines() if line[:1] == "{"]
    chats = [
        line
        for line in lines
        if line["logger"] == "llava_serve.access" and line["path"] == CHAT_ROUTE
    ]
    assert sorted(line["status"] for line in chats) == [200] * completed + [503]
    assert all(len(line["request_id"]) == 32 and line["duration_s"] > 0 for line in chats)
