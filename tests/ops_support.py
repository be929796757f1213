"""Helpers for the operations tests: /metrics reading, requests long enough to be caught in
flight, and a frozen engine.

Scenarios that must catch a request in flight do not race the tiny model (it finishes a long
request in well under a second): they freeze vLLM's engine-core process (SIGSTOP) so that a
request stays in flight for exactly as long as the test needs, then thaw it (SIGCONT). The
engine is the real one throughout; only its clock is held."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

CHAT_ROUTE = "/v1/chat/completions"

# Upper bound on any wait for an event in these tests; generous, only stops a broken run.
EVENT_TIMEOUT_S = 120.0


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
    """A request that keeps the engine busy for a while: 8 sequences of exactly 480 tokens
    (ignore_eos), so none can stop early."""
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Tell me a long story."}],
        "max_tokens": 480,
        "n": 8,
        "temperature": 1.0,
        "seed": 7,
        "ignore_eos": True,
        **extra,
    }


def sdk_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """A request body as the OpenAI SDK takes it: our extensions go in extra_body."""
    extensions = {"ignore_eos"}
    standard = {key: value for key, value in body.items() if key not in extensions}
    extra = {key: value for key, value in body.items() if key in extensions}
    return {**standard, "extra_body": extra} if extra else standard


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


def engine_core(server_pid: int) -> psutil.Process:
    """vLLM names its engine-core process (process title) VLLM::EngineCore."""
    for child in psutil.Process(server_pid).children(recursive=True):
        if "EngineCore" in child.name() or "EngineCore" in " ".join(child.cmdline()):
            return child
    pytest.fail("no engine-core child process found")


@contextmanager
def frozen_engine(server_pid: int) -> Iterator[psutil.Process]:
    """Holds the engine core stopped (SIGSTOP) until the block ends: requests sent meanwhile
    reach our server and vLLM's front end but make no progress. Thawed on the way out."""
    core = engine_core(server_pid)
    core.suspend()
    try:
        yield core
    finally:
        with suppress(psutil.NoSuchProcess):
            core.resume()


def wait_in_engine(base_url: str, count: int = 1) -> None:
    """Until vLLM's front end holds `count` requests (it counts them as they are added)."""
    wait_for(
        lambda: metric(base_url, "llava_serve_engine_unfinished_requests") >= count,
        f"{count} request(s) to reach the engine",
    )


def slots_taken(base_url: str, running: int, waiting: int) -> bool:
    """Admission holds exactly `running` requests and `waiting` queued ones."""
    samples = scrape(base_url)
    return (
        value(samples, "llava_serve_requests_running") == running
        and value(samples, "llava_serve_requests_waiting") == waiting
    )
