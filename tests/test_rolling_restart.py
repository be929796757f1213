"""Two replicas behind a real HAProxy (Debian's package) on loopback, under a steady load of
streaming and non-streaming requests:

- a rolling restart with plain SIGTERMs, as docker, compose, systemd and Nomad stop a process:
  no request fails. During each replica's lame-duck period /ready is 503 while requests sent to
  it are still answered, so HAProxy takes it out before it refuses anything.
- one replica SIGKILLed mid-load: only requests it held in flight are lost, HAProxy takes it
  out, and the other replica answers everything sent after the kill.
- with API keys on, Prometheus still scrapes the metrics port without a key.
The figures (requests sent and failed) are printed; run with -s to see them."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.lb_support import (
    API_KEY,
    CHAT_ROUTE,
    HAProxy,
    Load,
    Replica,
    status_of,
    stop_all,
    wait_for,
)

# Four engine start-ups (two at once, then one restart per replica), on a 2-core machine.
pytestmark = [pytest.mark.timeout(3600), pytest.mark.needs_server]
LOAD_BOUND_S = 900.0
# Answers each phase must see before it moves on: the load is really flowing.
ANSWERS_PER_PHASE = 8


@pytest.fixture(scope="module")
def cluster(
    home: Path, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HAProxy, list[Replica]]]:
    folder = tmp_path_factory.mktemp("rolling-restart")
    replicas = [Replica(index, home, folder) for index in (0, 1)]
    balancer = HAProxy(folder, replicas)
    try:
        for replica in replicas:  # both engines load at once
            replica.start()
        for replica in replicas:
            replica.wait_ready()
        balancer.start()
        for replica in replicas:
            balancer.wait_status(replica, "UP")
        yield balancer, replicas
    finally:
        balancer.stop()
        stop_all(replicas)


def under_load(
    balancer: HAProxy, scenario: Callable[[Load], None], pause_s: float = Load.pause_s
) -> Load:
    """Runs the scenario (in a thread) while the load runs (on this thread's event loop)."""
    load = Load(balancer.url, "tiny-llava-hf", pause_s=pause_s)
    failure: list[BaseException] = []

    def drive() -> None:
        try:
            wait_for(lambda: len(load.outcomes) >= ANSWERS_PER_PHASE, "the load to flow")
            scenario(load)
        except BaseException as error:  # reported by the test, after the load stops
            failure.append(error)
        finally:
            load.stop()

    async def main() -> None:
        thread = threading.Thread(target=drive)
        thread.start()
        await load.run(LOAD_BOUND_S)
        await asyncio.to_thread(thread.join)

    asyncio.run(main())
    if failure:
        raise failure[0]
    return load


def answered_since(load: Load, moment: float) -> Callable[[], bool]:
    return lambda: load.answered_after(moment) >= ANSWERS_PER_PHASE


def served_in_lame_duck(replica: Replica) -> int:
    """Once /ready is 503 after the SIGTERM, a request sent straight to the replica (as a load
    balancer that has not yet noticed would) is still answered."""
    wait_for(lambda: status_of(f"{replica.url}/ready") == 503, "/ready 503 after SIGTERM")
    body = {
        "model": "tiny-llava-hf",
        "messages": [{"role": "user", "content": "Hello!"}],
        "max_tokens": 4,
    }
    headers = {"Authorization": f"Bearer {API_KEY}"}
    reply = httpx.post(f"{replica.url}{CHAT_ROUTE}", json=body, headers=headers, timeout=60)
    return reply.status_code


def rolling_restart(balancer: HAProxy, replicas: list[Replica], load: Load) -> None:
    for replica in replicas:
        replica.signal(signal.SIGTERM)
        assert served_in_lame_duck(replica) == 200
        balancer.wait_status(replica, "DOWN")
        assert replica.wait_exit() == 0, replica.log()
        assert "drained; shutting down" in replica.log()
        replica.start()
        replica.wait_ready()
        balancer.wait_status(replica, "UP")
        wait_for(answered_since(load, time.monotonic()), "answers after the restart")


@pytest.mark.needs_server(engines=4)  # the cluster's two, and each replica's restart
def test_rolling_restart_with_sigterm_loses_no_request(
    cluster: tuple[HAProxy, list[Replica]],
) -> None:
    balancer, replicas = cluster
    before = {r.name: int(balancer.stats()[r.name]["stot"]) for r in replicas}
    load = under_load(balancer, lambda load: rolling_restart(balancer, replicas, load))
    failed = load.failures()
    streamed = sum(1 for o in load.outcomes if o.streamed)
    print(
        f"\nrolling restart: {len(load.outcomes)} requests sent ({streamed} streamed), "
        f"{len(failed)} failed"
    )
    assert not failed, [f.detail for f in failed[:5]]
    after = {r.name: int(balancer.stats()[r.name]["stot"]) for r in replicas}
    assert all(after[name] > before[name] for name in after)  # both replicas took load


def sigkill_one(balancer: HAProxy, victim: Replica, load: Load, record: dict[str, float]) -> None:
    record["in_flight_on_victim"] = float(balancer.stats()[victim.name]["scur"])
    record["killed_at"] = time.monotonic()
    victim.kill_group()
    record["dead_at"] = time.monotonic()  # its sockets are closed: nothing more reaches it
    balancer.wait_status(victim, "DOWN")
    record["down_at"] = time.monotonic()
    wait_for(answered_since(load, record["down_at"]), "answers after the ejection")


def test_sigkill_loses_only_what_the_replica_held(
    cluster: tuple[HAProxy, list[Replica]],
) -> None:
    balancer, replicas = cluster
    victim = replicas[0]
    record: dict[str, float] = {}
    # A heavier load than the restart's (no engine has to load meanwhile): more in flight.
    load = under_load(
        balancer, lambda load: sigkill_one(balancer, victim, load, record), pause_s=0.1
    )
    killed_at, dead_at = record["killed_at"], record["dead_at"]
    failed = load.failures()
    # In flight: sent before the replica was gone, still open when the kill began.
    in_flight = [o for o in load.outcomes if o.started < dead_at and o.ended > killed_at]
    print(
        f"\nSIGKILL: {len(load.outcomes)} requests sent, {len(failed)} failed; "
        f"{len(in_flight)} were in flight at the kill "
        f"({record['in_flight_on_victim']:.0f} of them on the killed replica, by HAProxy); "
        f"{load.answered_after(killed_at)} answered after it; ejected after "
        f"{record['down_at'] - killed_at:.1f} s"
    )
    # Lost: only requests already in flight at the kill; everything sent later was answered
    # (a connection refused before the ejection is retried on the other replica).
    assert all(o in in_flight for o in failed), [f.detail for f in failed]
    assert balancer.status(victim) == "DOWN" and balancer.status(replicas[1]) == "UP"


def test_metrics_port_is_scrapeable_without_the_api_key(
    cluster: tuple[HAProxy, list[Replica]],
) -> None:
    replica = cluster[1][1]
    assert status_of(f"{replica.url}/metrics") == 401  # the API port wants the key
    scrape = httpx.get(f"http://127.0.0.1:{replica.metrics_port}/metrics", timeout=30)
    assert scrape.status_code == 200
    assert "llava_serve_requests_total" in scrape.text
    assert "llava_serve_engine_alive 1.0" in scrape.text
