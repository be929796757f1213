"""The engine-core process dies (killed): the request in flight gets an error instead of
hanging, /health turns 503, the server exits non-zero so the orchestrator restarts it, and no
engine process outlives it (not even the killed core's workers)."""

from __future__ import annotations

import signal
import threading

import httpx
import psutil
import pytest

from tests.ops_support import (
    CHAT_ROUTE,
    EVENT_TIMEOUT_S,
    frozen_engine,
    long_request,
    wait_for,
    wait_in_engine,
)
from tests.support.servers import RemoteServer


def _health_seen_503(server: RemoteServer) -> bool:
    assert server.process.poll() is None, "the server exited before /health answered 503"
    try:
        return httpx.get(f"{server.url}/health", timeout=5).status_code == 503
    except httpx.TransportError:
        return False


# The tiny profile's server, after all its other users: nothing else needs it afterwards.
@pytest.mark.takes_server("tiny")
def test_engine_death_turns_health_503_and_exits_non_zero(
    taken_server: RemoteServer, model_id: str
) -> None:
    url = taken_server.url
    children = psutil.Process(taken_server.pid).children(recursive=True)
    answers: list[httpx.Response | Exception] = []

    def in_flight() -> None:
        try:
            answers.append(
                httpx.post(f"{url}{CHAT_ROUTE}", json=long_request(model_id), timeout=300)
            )
        except httpx.HTTPError as error:
            answers.append(error)

    # Frozen, the engine cannot finish the request before it is killed.
    with frozen_engine(taken_server.pid) as core:
        worker = threading.Thread(target=in_flight, daemon=True)
        worker.start()
        wait_in_engine(url)
        # Stopped as well, the core's workers cannot notice its death themselves (vLLM's death
        # pipe): only the server's shutdown, through the orphan reaper, can end them.
        engine_workers = core.children(recursive=True)
        assert engine_workers, "vLLM's engine core should run its workers as child processes"
        for engine_worker in engine_workers:
            engine_worker.suspend()
        core.send_signal(signal.SIGKILL)

    wait_for(lambda: _health_seen_503(taken_server), "/health to turn 503")
    assert httpx.get(f"{url}/ready").status_code == 503
    worker.join(timeout=EVENT_TIMEOUT_S)
    assert not worker.is_alive(), "the in-flight request hung after the engine died"
    answer = answers[0]
    assert isinstance(answer, httpx.Response), f"no HTTP answer: {answer!r}"
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "service_unavailable"

    assert taken_server.process.wait(timeout=EVENT_TIMEOUT_S) != 0
    assert "the vLLM engine died" in taken_server.log()
    _, alive = psutil.wait_procs(children, timeout=EVENT_TIMEOUT_S)
    assert not alive, f"child processes left behind: {alive}"
