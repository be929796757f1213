"""The benchmark's check of the performance goals (a pure function of one run's results)."""

from __future__ import annotations

from benchmarks.targets import targets_table


def _run(concurrency: int, throughput: float, ttft: float, **extra: float) -> dict[str, float]:
    return {
        "concurrency": concurrency,
        "request_throughput": throughput,
        "median_ttft_ms": ttft,
        **extra,
    }


def test_ratios_and_warm_over_cold_are_checked_against_the_goals() -> None:
    results = {
        "workloads": {
            "a-small-image": {"vllm": [_run(1, 10, 100)], "llava-serve": [_run(1, 12, 80)]},
            "b-photo-data-url": {"vllm": [_run(8, 10, 100)], "llava-serve": [_run(8, 15, 60)]},
            "c-repeated-photo": {
                "vllm": [_run(1, 1, 1, cold_ttft_ms=100, warm_ttft_ms=90)],
                "llava-serve": [_run(1, 1, 1, cold_ttft_ms=100, warm_ttft_ms=40)],
            },
            "d-text-only": {"vllm": [_run(32, 1, 1)], "llava-serve": [_run(32, 1, 1)]},
        }
    }
    rows = targets_table(results).splitlines()[2:]
    assert rows == [
        "| a-small-image c=1 | req/s >= 1.1x | 1.20 | yes |",
        "| a-small-image c=1 | TTFT p50 <= 0.9x | 0.80 | yes |",
        "| b-photo-data-url c=8 | req/s >= 2.0x | 1.50 | no |",
        "| b-photo-data-url c=8 | TTFT p50 <= 0.5x | 0.60 | no |",
        "| c-repeated-photo c=1 | warm / cold TTFT <= 0.5 | 0.40 | yes |",
    ]
