"""llava-serve's performance goals, checked against one run's results: each as a ratio
llava-serve / vLLM (throughput at least, median TTFT at most), and on the repeated photo our
warm TTFT against our cold one."""

from __future__ import annotations

from typing import Any

# workload prefix -> (min req/s ratio, max median-TTFT ratio or None); the first match counts.
RATIO_TARGETS: dict[str, tuple[float, float | None]] = {
    "a-": (1.1, 0.9),
    "b-": (2.0, 0.5),
    "random-mm-2048x1536": (2.0, 0.5),
    "random-mm-64x64": (1.1, 0.9),
    "random-mm-": (1.0, None),  # no cell of the random-mm table below vLLM's throughput
}
WARM_OVER_COLD = 0.5


def targets_table(results: dict[str, Any]) -> str:
    lines = ["| cell | target | measured | met |", "|---|---|---|---|"]
    for workload, runs in results["workloads"].items():
        for ours, theirs in zip(runs["llava-serve"], runs["vllm"], strict=True):
            cell = f"{workload} c={ours['concurrency']}"
            lines += _ratio_rows(cell, workload, ours, theirs)
            if "warm_ttft_ms" in ours:
                warm_cold = ours["warm_ttft_ms"] / ours["cold_ttft_ms"]
                lines.append(
                    _row(
                        cell,
                        f"warm / cold TTFT <= {WARM_OVER_COLD}",
                        warm_cold,
                        warm_cold <= WARM_OVER_COLD,
                    )
                )
    return "\n".join(lines)


def _ratio_rows(
    cell: str, workload: str, ours: dict[str, Any], theirs: dict[str, Any]
) -> list[str]:
    for prefix, (throughput_min, ttft_max) in RATIO_TARGETS.items():
        if workload.startswith(prefix):
            throughput = ours["request_throughput"] / theirs["request_throughput"]
            rows = [
                _row(cell, f"req/s >= {throughput_min}x", throughput, throughput >= throughput_min)
            ]
            if ttft_max is not None:
                ttft = ours["median_ttft_ms"] / theirs["median_ttft_ms"]
                rows.append(_row(cell, f"TTFT p50 <= {ttft_max}x", ttft, ttft <= ttft_max))
            return rows
    return []


def _row(cell: str, target: str, value: float, met: bool) -> str:
    return f"| {cell} | {target} | {value:.2f} | {'yes' if met else 'no'} |"
