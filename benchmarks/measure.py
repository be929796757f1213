"""Drives one server with vLLM's own benchmark client (`vllm.benchmarks.serve.benchmark`)."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

from vllm.benchmarks.serve import TaskType, benchmark
from vllm.tokenizers import TokenizerLike

from benchmarks.workloads import Workload

METRICS = ["ttft", "tpot", "itl", "e2el"]


def measure(
    workload: Workload, concurrency: int, base_url: str, model: str, tokenizer: TokenizerLike
) -> dict[str, Any]:
    """One run: all the workload's requests at this concurrency, as fast as allowed."""
    result: dict[str, Any] = asyncio.run(
        benchmark(
            task_type=TaskType.GENERATION,
            endpoint_type="openai-chat",
            api_url=f"{base_url}/v1/chat/completions",
            base_url=base_url,
            model_id=model,
            model_name=model,
            tokenizer=tokenizer,
            input_requests=workload.requests,
            logprobs=None,
            request_rate=float("inf"),
            burstiness=1.0,
            disable_tqdm=True,
            num_warmups=workload.warmups,
            profile=False,
            selected_percentile_metrics=METRICS,
            selected_percentiles=[50.0, 99.0],
            ignore_eos=True,
            goodput_config_dict={},
            max_concurrency=concurrency,
            lora_modules=None,
            extra_headers=None,
            extra_body=workload.extra_body,
            # The cold/warm workload must not be warmed by the client's initial test request.
            ready_check_timeout_sec=0 if workload.cold_warm else 600,
        )
    )
    failed = [error for error in result.get("errors", []) if error]
    if failed:
        raise RuntimeError(f"{workload.name}: {len(failed)} requests failed: {failed[0][:300]}")
    return _summary(workload, concurrency, result)


def _summary(workload: Workload, concurrency: int, result: dict[str, Any]) -> dict[str, Any]:
    """The figures of one run that the report shows."""
    summary = {
        "concurrency": concurrency,
        "completed": result["completed"],
        "request_throughput": result["request_throughput"],
        "output_throughput": result["output_throughput"],
        "median_ttft_ms": result["median_ttft_ms"],
        "p99_ttft_ms": result["p99_ttft_ms"],
        "median_tpot_ms": result["median_tpot_ms"],
    }
    if workload.cold_warm:
        summary.update(_cold_warm(workload, result["ttfts"]))
    return summary


def _cold_warm(workload: Workload, ttfts: list[float]) -> dict[str, float]:
    """TTFT of each image's first request (cold) against the repeats (warm), in ms."""
    urls = [str(request.multi_modal_data) for request in workload.requests]
    seen: set[str] = set()
    cold: list[float] = []
    warm: list[float] = []
    for url, ttft in zip(urls, ttfts, strict=True):
        (warm if url in seen else cold).append(ttft * 1000)
        seen.add(url)
    return {"cold_ttft_ms": statistics.median(cold), "warm_ttft_ms": statistics.median(warm)}
