"""Every Prometheus collector of the server, in one place, and the small helpers that feed them.

Names follow Prometheus conventions (`llava_serve_` prefix, base units, `_total` counters) and
mirror vLLM's where one exists (vllm:time_to_first_token_seconds ->
llava_serve_time_to_first_token_seconds, ...). vLLM's own `vllm:*` collectors are registered in
the same default registry by the engine and are served on /metrics too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# `_created` timestamp series double the exposition for no use in dashboards or alerts.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Seconds; from a few ms (tiny model on CPU) to minutes (large images, long generations).
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0
)  # fmt: skip
TOKEN_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5
)  # fmt: skip
MEDIA_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "llava_serve_requests", "HTTP requests answered, by route and status code.", ["route", "status"]
)
REQUEST_LATENCY = Histogram(
    "llava_serve_request_duration_seconds",
    "End-to-end time from request arrival to the last response byte.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "llava_serve_time_to_first_token_seconds",
    "From the start of request preparation (image loading included) to the first token.",
    buckets=LATENCY_BUCKETS,
)
TIME_PER_OUTPUT_TOKEN = Histogram(
    "llava_serve_time_per_output_token_seconds",
    "Mean decode time per output token after the first, per request.",
    buckets=TOKEN_LATENCY_BUCKETS,
)
PROMPT_TOKENS = Counter(
    "llava_serve_prompt_tokens", "Prompt tokens processed (image tokens included)."
)
COMPLETION_TOKENS = Counter("llava_serve_completion_tokens", "Completion tokens generated.")
IMAGE_TOKENS = Counter(
    "llava_serve_image_tokens", "Prompt tokens that stand for images (part of prompt tokens)."
)
IMAGES = Counter(
    "llava_serve_images", "Images loaded for requests, by URL source and outcome.",
    ["source", "outcome"],
)  # fmt: skip
IMAGE_FETCH_SECONDS = Histogram(
    "llava_serve_image_fetch_seconds",
    "Time to get one image's bytes (http fetch or data: URL decode).",
    ["source"],
    buckets=MEDIA_BUCKETS,
)
IMAGE_DECODE_SECONDS = Histogram(
    "llava_serve_image_decode_seconds", "Time to decode and check one image.", buckets=MEDIA_BUCKETS
)
IMAGE_CACHE_HITS = Counter(
    "llava_serve_image_cache_hits",
    "Images found decoded in the content-hash cache (no fetch for data: URLs, no decode).",
)
REQUESTS_RUNNING = Gauge(
    "llava_serve_requests_running",
    "Generation requests (chat, completions, responses) admitted: loading images or in the engine.",
)
REQUESTS_WAITING = Gauge(
    "llava_serve_requests_waiting", "Generation requests queued for an admission slot."
)
QUEUE_TIME = Histogram(
    "llava_serve_request_queue_time_seconds",
    "Time a generation request waited for an admission slot.",
    buckets=LATENCY_BUCKETS,
)
REJECTIONS = Counter(
    "llava_serve_rejections",
    "Generation requests refused before admission (overloaded, draining, not_ready).",
    ["reason"],
)
ABORTS = Counter(
    "llava_serve_aborts",
    "Admitted generation requests aborted in flight (client_disconnected, deadline).",
    ["reason"],
)
ENGINE_KV_CACHE_USAGE = Gauge(
    "llava_serve_engine_kv_cache_usage_ratio", "vLLM KV-cache usage, 0 to 1 (scheduler stats)."
)
ENGINE_RUNNING = Gauge(
    "llava_serve_engine_running_requests", "Sequences running in vLLM's scheduler (last step)."
)
ENGINE_WAITING = Gauge(
    "llava_serve_engine_waiting_requests", "Sequences waiting in vLLM's scheduler (last step)."
)
ENGINE_UNFINISHED = Gauge(
    "llava_serve_engine_unfinished_requests",
    "Requests vLLM holds for this server now (sampled at scrape; drops at once on abort).",
)
ENGINE_ALIVE = Gauge("llava_serve_engine_alive", "1 while the vLLM engine is loaded and alive.")


@dataclass(frozen=True)
class GenerationCounts:
    prompt_tokens: int
    completion_tokens: int
    image_tokens: int


def record_generation(counts: GenerationCounts, started: float, output: Any) -> None:
    """Records one finished generation. `output` is vLLM's last RequestOutput; its `metrics`
    (RequestStateStats, kept by vLLM when stats are on) hold the engine's token timestamps."""
    PROMPT_TOKENS.inc(counts.prompt_tokens)
    COMPLETION_TOKENS.inc(counts.completion_tokens)
    IMAGE_TOKENS.inc(counts.image_tokens)
    stats = getattr(output, "metrics", None)
    if stats is None or not stats.first_token_latency:
        return
    # first_token_latency runs from vLLM's arrival time; add the time we spent before it.
    before_engine = max(0.0, stats.arrival_time - started)
    TIME_TO_FIRST_TOKEN.observe(before_engine + stats.first_token_latency)
    if stats.num_generation_tokens > 1 and stats.last_token_ts > stats.first_token_ts:
        decode = stats.last_token_ts - stats.first_token_ts
        TIME_PER_OUTPUT_TOKEN.observe(decode / (stats.num_generation_tokens - 1))
