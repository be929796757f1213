"""/metrics after real requests on the shared server: every counter and histogram moves by
exactly what the requests did; the engine gauges come from vLLM's scheduler stats."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types import CompletionUsage

from server.logging_setup import REQUEST_ID, JsonFormatter, RequestIdFilter
from server.prompts.hf import hf_tokens_per_image
from tests.images import data_url, encode, scene, user_message
from tests.ops_support import (
    CHAT_ROUTE,
    engine_idle,
    frozen_engine,
    long_request,
    scrape,
    short_request,
    value,
    wait_for,
)
from tests.support.inprocess import app_without_engine, request


def test_metrics_endpoint_is_prometheus_text(base_url: str) -> None:
    reply = httpx.get(f"{base_url}/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    for name in (
        "llava_serve_requests_total",
        "llava_serve_time_to_first_token_seconds",
        "llava_serve_engine_kv_cache_usage_ratio",
        "vllm:num_requests_waiting",  # vLLM's own collectors are served too
    ):
        assert name in reply.text


def test_counters_and_histograms_move_with_requests(
    base_url: str,
    client: openai.OpenAI,
    model_id: str,
    tiny_checkpoint: Path,
    image_host: tuple[str, Path],
) -> None:
    host, folder = image_host
    # Images no other test sends: a repeat would be a cache hit, not a decode.
    (folder / "metrics.png").write_bytes(encode(scene(48, 48, 903)))
    before = scrape(base_url)
    first, second = _two_chats_and_a_404(client, model_id, f"{host}/metrics.png")
    after = scrape(base_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    chat_ok = {"route": CHAT_ROUTE, "status": "200"}
    assert delta("llava_serve_requests_total", **chat_ok) == 2
    assert delta("llava_serve_requests_total", route=CHAT_ROUTE, status="404") == 1
    assert delta("llava_serve_request_duration_seconds_count", route=CHAT_ROUTE) == 3
    assert delta("llava_serve_request_duration_seconds_sum", route=CHAT_ROUTE) > 0
    prompt = first.prompt_tokens + second.prompt_tokens
    completion = first.completion_tokens + second.completion_tokens
    assert delta("llava_serve_prompt_tokens_total") == prompt
    assert delta("llava_serve_completion_tokens_total") == completion
    assert delta("llava_serve_image_tokens_total") == 2 * hf_tokens_per_image(tiny_checkpoint)
    assert delta("llava_serve_time_to_first_token_seconds_count") == 2
    assert delta("llava_serve_time_to_first_token_seconds_sum") > 0
    multi_token = sum(u.completion_tokens > 1 for u in (first, second))
    assert delta("llava_serve_time_per_output_token_seconds_count") == multi_token
    assert delta("llava_serve_images_total", source="data", outcome="ok") == 1
    assert delta("llava_serve_images_total", source="http", outcome="ok") == 1
    assert delta("llava_serve_image_fetch_seconds_count", source="http") == 1
    assert delta("llava_serve_image_decode_seconds_count") == 2
    assert delta("llava_serve_request_queue_time_seconds_count") == 3
    assert value(after, "llava_serve_requests_running") == 0
    assert value(after, "llava_serve_requests_waiting") == 0
    assert value(after, "llava_serve_engine_alive") == 1


def _two_chats_and_a_404(
    client: openai.OpenAI, model_id: str, image_url: str
) -> tuple[CompletionUsage, CompletionUsage]:
    """A chat with a data-URL image, a streamed one with an http image, one unknown model;
    the usage of the two chats."""
    first = client.chat.completions.create(
        model=model_id,
        messages=[user_message("Describe.", data_url(encode(scene(64, 64, 901))))],
        max_tokens=8,
        temperature=1.0,
        seed=3,
    )
    chunks = list(
        client.chat.completions.create(
            model=model_id,
            messages=[user_message("And this?", image_url)],
            max_tokens=8,
            temperature=1.0,
            seed=4,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    second = chunks[-1].usage
    assert first.usage is not None and second is not None
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}], max_tokens=1
        )
    return first.usage, second


def test_a_repeated_image_is_a_cache_hit_not_a_decode(
    base_url: str, client: openai.OpenAI, model_id: str
) -> None:
    image = data_url(encode(scene(40, 40, 905)))
    counts = []
    for _ in range(3):
        before = scrape(base_url)
        client.chat.completions.create(
            model=model_id,
            messages=[user_message("Again?", image)],
            max_tokens=1,
        )
        after = scrape(base_url)
        counts.append(
            tuple(
                value(after, name) - value(before, name)
                for name in (
                    "llava_serve_image_decode_seconds_count",
                    "llava_serve_image_cache_hits_total",
                )
            )
        )
    assert counts == [(1, 0), (0, 1), (0, 1)]


def test_bad_image_is_counted_as_an_error(
    base_url: str, client: openai.OpenAI, model_id: str
) -> None:
    before = scrape(base_url)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=model_id,
            messages=[user_message("?", data_url(b"not an image at all"))],
            max_tokens=2,
        )
    after = scrape(base_url)
    errors = {"source": "data", "outcome": "error"}
    assert value(after, "llava_serve_images_total", **errors) == (
        value(before, "llava_serve_images_total", **errors) + 1
    )
    assert value(after, "llava_serve_requests_total", route=CHAT_ROUTE, status="400") == (
        value(before, "llava_serve_requests_total", route=CHAT_ROUTE, status="400") + 1
    )


def test_engine_gauges_follow_a_running_request(
    base_url: str, base_server_pid: int, model_id: str
) -> None:
    """While a long request runs, the scheduler's gauges show it; afterwards they fall back."""
    body = long_request(model_id, stream=True)
    seen = None
    for _ in range(ATTEMPTS):
        seen = _gauges_of_a_frozen_request(base_url, base_server_pid, body)
        if seen is not None:
            break
    assert seen is not None, f"the request finished before the engine froze, {ATTEMPTS} times"
    # The n sequences reach the scheduler one by one: at the freeze, some or all of them run.
    assert 1 <= seen["llava_serve_engine_running_requests"] <= body["n"]
    assert seen["llava_serve_engine_kv_cache_usage_ratio"] > 0
    assert seen["llava_serve_requests_running"] == 1
    assert seen["llava_serve_engine_unfinished_requests"] == body["n"]
    wait_for(lambda: engine_idle(base_url), "the request to finish")
    # One short request: its step refreshes the scheduler's gauges, now empty.
    httpx.post(f"{base_url}{CHAT_ROUTE}", json=short_request(model_id), timeout=120)
    samples = scrape(base_url)
    assert value(samples, "llava_serve_engine_running_requests") == 0
    assert value(samples, "llava_serve_engine_kv_cache_usage_ratio") == 0


# The engine streams on without waiting for the client, so on a fast machine the request can
# finish before the test freezes it; the test then tries again.
ATTEMPTS = 10
GAUGES = (
    "llava_serve_engine_running_requests",
    "llava_serve_engine_kv_cache_usage_ratio",
    "llava_serve_requests_running",
    "llava_serve_engine_unfinished_requests",
)


def _gauges_of_a_frozen_request(
    base_url: str, server_pid: int, body: dict[str, Any]
) -> dict[str, float] | None:
    """The gauges while the engine is frozen mid-request (None if it had finished first).
    vLLM reports its scheduler's stats after every step; frozen, the last report is one taken
    while the request ran. If the request had already finished, vLLM's front end drops it
    (unfinished 0) instead: one of the two always comes."""
    seen: dict[str, float] = {}

    def settled() -> bool:
        samples = scrape(base_url)
        seen.update({name: value(samples, name) for name in GAUGES})
        return (
            seen["llava_serve_engine_unfinished_requests"] == 0
            or seen["llava_serve_engine_running_requests"] > 0
        )

    with httpx.stream("POST", f"{base_url}{CHAT_ROUTE}", json=body, timeout=300) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        next(line for line in lines if '"content"' in line)  # decoding
        with frozen_engine(server_pid):
            wait_for(settled, "the gauges to show the request, or the request to be done")
        for _ in lines:  # the rest of the stream
            pass
    return seen if seen["llava_serve_engine_unfinished_requests"] > 0 else None


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord(
        "llava_serve.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None
    )
    record.status = 200
    token = REQUEST_ID.set("req-42")
    try:
        assert RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /x" and line["level"] == "info"
    assert line["request_id"] == "req-42" and line["status"] == 200


def test_responses_echo_a_sane_request_id() -> None:
    app = app_without_engine()
    echoed = request(app, "GET", "/health", headers={"X-Request-Id": "trace-7"})
    assert echoed.headers["x-request-id"] == "trace-7"
    unsafe = "<script> and spaces"  # not a sane token: replaced by a fresh id
    generated = request(app, "GET", "/health", headers={"X-Request-Id": unsafe})
    assert len(generated.headers["x-request-id"]) == 32
