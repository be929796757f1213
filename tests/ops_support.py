"""Helpers for the operations tests: servers with their own settings, /metrics reading, and
requests long enough to be caught in flight."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, server_env, start_server, wait_ready

CHAT_ROUTE = "/v1/chat/completions"

# These scenarios must catch the tiny model mid-request. On a quiet machine it finishes a
# request in well under a second, and they still fail about one run in three: they run
# locally and stay out of CI (CI=true), where a flaky test would block every landing, until
# they are made deterministic (closing note of issue 5). Used by the drain, burst,
# engine-death, engine-gauge and client-disconnect tests.
timing_sensitive = pytest.mark.skipif(
    os.environ.get("CI") == "true", reason="timing-sensitive: flaky on fast machines"
)

# Upper bound on any wait for an event in these tests; generous, only stops a broken run.
EVENT_TIMEOUT_S = 120.0


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


@contextmanager
def own_server(
    tmp_path_factory: pytest.TempPathFactory, home: Path, settings: dict[str, str]
) -> Iterator[ServerProcess]:
    """A server of our own (LLAVA_SERVE_* settings), stopped at the end if still running."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("own-server") / "server.log"
    env = {**server_env(), **{f"LLAVA_SERVE_{k.upper()}": v for k, v in settings.items()}}
    process = start_server(["--port", str(port), "--home", str(home)], log_path, env)
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_ready(server.url, process, log_path)
        yield server
    finally:
        if process.poll() is None:  # SIGTERM: the server drains (idle: at once) and reaps vLLM
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=60)


def scrape(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """All samples of /metrics: (name, labels) -> value."""
    reply = httpx.get(f"{base_url}/metrics", timeout=30)
    reply.raise_for_status()
    samples = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def metric(base_url: str, name: str, **labels: str) -> float:
    return value(scrape(base_url), name, **labels)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = EVENT_TIMEOUT_S) -> None:
    """Polls until `condition` holds; an event to wait for, not a timing assertion."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for: {what}")
        time.sleep(0.02)


def long_request(model: str, **extra: Any) -> dict[str, Any]:
    """A request that keeps the engine busy for a while (8 sequences of 480 tokens), so tests
    can catch it in flight; sampled, so the random-weight model rarely stops early."""
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Tell me a long story."}],
        "max_tokens": 480,
        "n": 8,
        "temperature": 1.0,
        "seed": 7,
        **extra,
    }


def short_request(model: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Hello!"}],
        "max_tokens": 8,
        "temperature": 0.0,
        **extra,
    }


def engine_idle(base_url: str) -> bool:
    samples = scrape(base_url)
    return (
        value(samples, "llava_serve_engine_unfinished_requests") == 0
        and value(samples, "llava_serve_requests_running") == 0
        and value(samples, "llava_serve_requests_waiting") == 0
    )
