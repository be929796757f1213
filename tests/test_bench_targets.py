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


def test_random_mm_cells_have_the_issue_targets_and_every_cell_a_throughput_floor() -> None:
    results = {
        "workloads": {
            "random-mm-2048x1536": {"vllm": [_run(8, 10, 100)], "llava-serve": [_run(8, 21, 40)]},
            "random-mm-64x64": {"vllm": [_run(8, 10, 100)], "llava-serve": [_run(8, 11, 95)]},
            "random-mm-512x512": {"vllm": [_run(32, 10, 100)], "llava-serve": [_run(32, 9, 90)]},
        }
    }
    rows = targets_table(results).splitlines()[2:]
    assert rows == [
        "| random-mm-2048x1536 c=8 | req/s >= 2.0x | 2.10 | yes |",
        "| random-mm-2048x1536 c=8 | TTFT p50 <= 0.5x | 0.40 | yes |",
        "| random-mm-64x64 c=8 | req/s >= 1.1x | 1.10 | yes |",
        "| random-mm-64x64 c=8 | TTFT p50 <= 0.9x | 0.95 | no |",
        "| random-mm-512x512 c=32 | req/s >= 1.0x | 0.90 | no |",
    ]
