"""Tables (terminal and Markdown), JSON, and the TTFT/throughput plot of a benchmark run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = [
    ("request_throughput", "req/s", True),
    ("output_throughput", "out tok/s", True),
    ("median_ttft_ms", "TTFT p50 ms", False),
    ("p99_ttft_ms", "TTFT p99 ms", False),
    ("median_tpot_ms", "TPOT p50 ms", False),
    ("cold_ttft_ms", "cold TTFT ms", False),
    ("warm_ttft_ms", "warm TTFT ms", False),
]


def _rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per workload and concurrency: vLLM, ours, ratio ours/vLLM for each metric."""
    rows = []
    for workload, runs in results["workloads"].items():
        for ours, theirs in zip(runs["llava-serve"], runs["vllm"], strict=True):
            row = [workload, str(ours["concurrency"])]
            for key, _, _ in COLUMNS:
                if key in ours:
                    ratio = ours[key] / theirs[key] if theirs[key] else float("nan")
                    row.append(f"{theirs[key]:.1f} / {ours[key]:.1f} ({ratio:.2f}x)")
                else:
                    row.append("")
            rows.append(row)
    return rows


def markdown_table(results: dict[str, Any]) -> str:
    header = ["workload", "conc.", *[title for _, title, _ in COLUMNS]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(results)]
    rss = results["peak_rss_mib"]
    lines.append("")
    lines.append(
        f"Peak server RSS (API process + engine core): vLLM {rss['vllm']:.0f} MiB, "
        f"llava-serve {rss['llava-serve']:.0f} MiB "
        f"({rss['llava-serve'] / rss['vllm']:.2f}x)."
    )
    return "\n".join(lines)


def write_outputs(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    name = results["model"]
    (out / f"bench-{name}.json").write_text(json.dumps(results, indent=2))
    (out / f"bench-{name}.md").write_text(markdown_table(results) + "\n")
    _plot(results, out / f"bench-{name}.png")


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["workloads"]["a-small-image"]
    figure, (ttft, throughput) = plt.subplots(1, 2, figsize=(10, 4))
    for server, style in (("vllm", "o--"), ("llava-serve", "s-")):
        x = [run["concurrency"] for run in runs[server]]
        ttft.plot(x, [run["median_ttft_ms"] for run in runs[server]], style, label=server)
        throughput.plot(x, [run["request_throughput"] for run in runs[server]], style, label=server)
    ttft.set(xlabel="concurrency", ylabel="median TTFT (ms)", title="TTFT, 64x64 image")
    throughput.set(xlabel="concurrency", ylabel="requests/s", title="Throughput, 64x64 image")
    for axes in (ttft, throughput):
        axes.legend()
        axes.grid(alpha=0.3)
    figure.suptitle(f"{results['model']}: llava-serve vs vLLM's OpenAI server")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
