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
    frozen_engine,
    long_request,
    own_server,
    scrape,
    sdk_arguments,
    short_request,
    slots_taken,
    value,
    wait_for,
)

# One running, three queued: every slot taken when the SIGTERM comes.
MAX_RUNNING, MAX_WAITING = 1, 3


@pytest.fixture(scope="module")
def draining_server(
    tmp_path_factory: pytest.TempPathFactory, home: Path, tiny_checkpoint: Path
) -> Iterator[ServerProcess]:
    settings = {
        "max_running_requests": str(MAX_RUNNING),
        "max_waiting_requests": str(MAX_WAITING),
        "drain_timeout_s": str(EVENT_TIMEOUT_S),
        # Refused from SIGTERM on (tests/test_rolling_restart.py covers the lame-duck period).
        "lame_duck_s": "0",
    }
    with own_server(tmp_path_factory, home, settings) as server:
        yield server


async def _complete(client: openai.AsyncOpenAI, body: dict[str, Any]) -> list[str | None]:
    """Finish reasons of every choice; a request cut by the shutdown raises instead."""
    reply = await client.chat.completions.create(**sdk_arguments(body))
    return [choice.finish_reason for choice in reply.choices]


def _refusal_while_draining(url: str, model_id: str) -> dict[str, Any]:
    reply = httpx.post(f"{url}{CHAT_ROUTE}", json=short_request(model_id), timeout=30)
    assert reply.status_code == 503
    error: dict[str, Any] = reply.json()["error"]
    return error


async def _scenario(server: ServerProcess, model_id: str) -> None:
    url = server.url
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    # Frozen, the engine holds the running request and the queue stays full while the
    # drain is checked; thawed, all four must finish in full before the process exits.
    with frozen_engine(server.process.pid):
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


def test_sigterm_drains_in_flight_requests_then_exits_0(
    draining_server: ServerProcess, model_id: str
) -> None:
    children = psutil.Process(draining_server.process.pid).children(recursive=True)
    assert children, "vLLM's engine-core process should be a child of the server"
    asyncio.run(_scenario(draining_server, model_id))
    assert draining_server.process.wait(timeout=EVENT_TIMEOUT_S) == 0, draining_server.log()
    assert "drained; shutting down" in draining_server.log()
    _, alive = psutil.wait_procs(children, timeout=EVENT_TIMEOUT_S)
    assert not alive, f"child processes left behind: {alive}"
    _assert_json_access_log(draining_server.log_path, completed=MAX_RUNNING + MAX_WAITING)


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
