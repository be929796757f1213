"""Stops that are not the graceful one: a SIGTERM to the whole process group (systemd's default
KillMode) cuts vLLM's engine too, and a stream it cuts must end with an error event, not look
finished; a kill -9 of the API process must not leave vLLM's engine processes running."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import httpx
import psutil
import pytest

from tests.ops_support import CHAT_ROUTE, EVENT_TIMEOUT_S, engine_core, long_request
from tests.support.servers import RemoteServer


def _events(server: RemoteServer, at_start: Callable[[], None]) -> list[Any]:
    """The stream's data events, parsed ([DONE] as the string); `at_start` runs once the
    status line is in (the request is admitted, the stream has begun)."""
    # 8 sequences of 400 tokens (room for the original-format template's system prompt in a
    # 512 context).
    body = long_request(server.settings["model"], stream=True, max_tokens=400)
    events: list[Any] = []
    url = f"{server.url}{CHAT_ROUTE}"
    with httpx.stream("POST", url, json=body, timeout=EVENT_TIMEOUT_S) as reply:
        assert reply.status_code == 200
        at_start()
        for line in reply.iter_lines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


# Each takes the last turn on a shared server: nothing else uses it afterwards.
@pytest.mark.takes_server("original-v15")
def test_a_stream_cut_by_a_group_wide_sigterm_ends_with_an_error(
    taken_server: RemoteServer,
) -> None:
    server = taken_server
    # The engine core is frozen (SIGSTOP) before the request is sent, so it cannot finish the
    # stream before the SIGTERM reaches it. (Frozen at the stream's first event, it once had:
    # a busy API process read the engine's outputs long after the engine had computed them.)
    core = engine_core(server.process.pid)
    core.suspend()
    started = threading.Event()
    result: list[list[Any]] = []
    reader = threading.Thread(target=lambda: result.append(_events(server, started.set)))
    reader.start()
    try:
        assert started.wait(EVENT_TIMEOUT_S), "the stream never started"
        os.killpg(server.process.pid, signal.SIGTERM)
    finally:
        core.resume()
    reader.join(EVENT_TIMEOUT_S)
    events = result[0]
    chunks = [event for event in events if isinstance(event, dict)]
    assert "error" in chunks[-1], chunks[-1]  # the last event says the request was cut
    finishes = [c["choices"][0].get("finish_reason") for c in chunks if c.get("choices")]
    assert "abort" not in finishes and "length" not in finishes
    server.process.wait(timeout=EVENT_TIMEOUT_S)


@pytest.mark.takes_server("deadline")
def test_engine_processes_exit_when_the_api_process_is_killed(taken_server: RemoteServer) -> None:
    server = taken_server
    api = psutil.Process(server.process.pid)
    children = api.children(recursive=True)
    engine = [c for c in children if "server.orphan_reaper" not in " ".join(c.cmdline())]
    assert engine, "vLLM's engine processes should be children of the server"
    server.process.kill()  # kill -9: no shutdown code runs
    server.process.wait(timeout=EVENT_TIMEOUT_S)
    _, alive = psutil.wait_procs(engine, timeout=EVENT_TIMEOUT_S)
    assert not alive, f"left running after kill -9 of the API process: {alive}"
