"""The benchmark command runs end to end on a tiny load (no timing is asserted: the benchmark
is a command, not a test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# vLLM's own server and llava-serve, side by side.
@pytest.mark.needs_server(engines=2)
def test_bench_runs_end_to_end(tmp_path: Path, home: Path) -> None:
    out, doc = tmp_path / "bench", tmp_path / "benchmarks.md"
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--requests",
        "4",
        "--concurrency",
        "2",
        "--repeats",
        "1",
        "--profile",
        "--parallel-start",
        "--only",
        "a,b",
        "--out",
        str(out),
        "--doc",
        str(doc),
    ]
    env = {**os.environ, "LLAVA_SERVE_HOME": str(home), "VLLM_CPU_KVCACHE_SPACE": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((out / "bench-tiny-llava-hf.json").read_text())
    runs = results["workloads"]["a-small-image"]
    assert [run["concurrency"] for run in runs["vllm"]] == [2]
    assert all(run["completed"] == 4 for run in runs["vllm"] + runs["llava-serve"])
    by_http = results["workloads"]["b-photo-http"]  # each run's photos hosted for it
    assert all(run["completed"] == 4 for run in by_http["vllm"] + by_http["llava-serve"])
    assert (out / "bench-tiny-llava-hf.png").stat().st_size > 0
    assert "a-small-image" in doc.read_text() and "x)" in doc.read_text()
    assert "Where the API process's time goes" in doc.read_text()  # --profile's tables
    assert "Against the performance goals" in doc.read_text()
