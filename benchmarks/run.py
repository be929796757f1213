"""`make bench`: vLLM's OpenAI server, then llava-serve, on the same checkpoint and engine
arguments, driven by vLLM's benchmark client; prints and writes the comparison."""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import itertools
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vllm.tokenizers import get_tokenizer

from benchmarks import profile, report
from benchmarks.measure import measure
from benchmarks.random_mm import SIZES, parse_sizes, random_mm_workloads
from benchmarks.servers import (
    ModelUnderTest,
    RunningServer,
    free_port,
    machine_description,
    model_under_test,
    ours_command,
    running,
    vllm_command,
)
from benchmarks.workloads import Workload, build_workloads, files_hosted


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tiny-llava-hf")
    parser.add_argument("--requests", type=int, default=128, help="requests per run")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per cell; the median-throughput one counts"
    )
    parser.add_argument("--concurrency", default="1,8,32", help="for the small-image workload")
    parser.add_argument("--out", type=Path, default=Path("docs/bench"))
    parser.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--ours-args", default="", help="extra flags for llava-serve serve")
    parser.add_argument("--only", default="", help="comma-separated workload name prefixes")
    parser.add_argument(
        "--suite",
        choices=("photos", "random-mm"),
        default="photos",
        help="photos: workloads a-d; random-mm: vLLM's random-mm dataset at --sizes",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(f"{w}x{h}" for w, h in SIZES),
        help="random-mm image sizes, WIDTHxHEIGHT,...",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy both API processes during every run"
    )
    parser.add_argument(
        "--parallel-start", action="store_true", help="start the servers at once, not in turn"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a llava-serve source tree (e.g. `git archive` of an earlier commit) run as a "
        "third server, 'baseline', interleaved with the other two",
    )
    return parser.parse_args()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # a line per image on stderr would load the harness during workload b


@contextmanager
def _file_host(folder: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def measure_cells(
    servers: dict[str, RunningServer],
    workloads: list[Workload],
    hosted: Path,
    model: str,
    tokenizer: Any,
    profiles: Path | None,
    repeats: int,
    label: str,
) -> dict[str, dict[str, list[Any]]]:
    """Both servers are up; every run of a cell on one is followed by the same run on the other
    (who goes first alternates), so a neighbour's burst or a slow drift on this shared machine
    falls on both alike instead of on whichever server happened to be measured then."""
    runs: dict[str, dict[str, list[Any]]] = {}
    numbers = itertools.count()

    def measure_once(workload: Workload, concurrency: int, url: str) -> dict[str, Any]:
        this_run = workload.for_run(next(numbers))
        with files_hosted(this_run, hosted):
            return measure(this_run, concurrency, url, model, tokenizer)

    _warm_up(servers, workloads, measure_once)
    for workload in workloads:
        for concurrency in workload.concurrencies:
            # Once for cold/warm: a repeat would find every photo warm.
            count = 1 if workload.cold_warm else repeats
            summaries: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
            for repeat in range(count):
                order = list(servers) if repeat % 2 == 0 else list(reversed(servers))
                for name in order:
                    run = measure_once(workload, concurrency, servers[name].base_url)
                    summaries[name].append(run)
            if profiles is not None:
                _profiled_runs(servers, workload, concurrency, measure_once, profiles, label)
            for name, measured in summaries.items():
                summary = _median_run(measured)
                print(
                    f"{name:12s} {workload.name:18s} c={concurrency:<3d} "
                    f"{summary['request_throughput']:7.2f} req/s  "
                    f"TTFT p50 {summary['median_ttft_ms']:8.1f} ms",
                    flush=True,
                )
                runs.setdefault(workload.name, {}).setdefault(name, []).append(summary)
    return runs


def _warm_up(
    servers: dict[str, RunningServer],
    workloads: list[Workload],
    measure_once: Callable[[Workload, int, str], dict[str, Any]],
) -> None:
    """One untimed run of the first cell on each server: the first runs after a start are
    slower on both (vLLM's server 40, then 55 and 59 req/s at 64x64), and the interleaved order
    would hand that to whichever server the median run falls on."""
    first = next((w for w in workloads if not w.cold_warm), None)
    if first is not None:
        for server in servers.values():
            measure_once(first, first.concurrencies[0], server.base_url)


def _profiled_runs(
    servers: dict[str, RunningServer],
    workload: Workload,
    concurrency: int,
    measure_once: Callable[[Workload, int, str], dict[str, Any]],
    profiles: Path,
    label: str,
) -> None:
    """One more run per server under py-spy, not counted: sampling at 250 Hz on 2 cores took
    a c=8 cell from 49 / 85 req/s (vLLM / ours) to 31 / 23, so timed runs are never sampled.
    (For the repeated photo this run is all warm.)"""
    for name, server in servers.items():
        raw = profiles / f"{label}-{name}-{workload.name}-c{concurrency}.txt"
        with profile.sampled(server.process.pid, raw):
            measure_once(workload, concurrency, server.base_url)


def _median_run(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput: one whole run, not a mix of runs' figures. On a
    shared machine a single run can catch a neighbour's burst."""
    ordered = sorted(summaries, key=lambda summary: summary["request_throughput"])
    return ordered[len(ordered) // 2]


def _output_folders(out: Path, profile: bool) -> tuple[Path, Path | None]:
    """The servers' logs folder, and the profiles folder when profiling."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    profiles = out / "profiles" if profile else None
    if profiles is not None:
        profiles.mkdir(exist_ok=True)
    return logs, profiles


def _start_servers(
    stack: contextlib.ExitStack,
    servers: dict[str, tuple[list[str], int, Path | None]],
    logs: Path,
    parallel: bool,
) -> dict[str, RunningServer]:
    """Started one after the other (two engines loading at once on 2 cores would only slow
    both), then all kept up for the interleaved runs; parallel starts them at once (on a
    machine shared with other jobs each start takes its own share)."""
    starts = {
        name: running(name, command, port, logs / f"{name}.log", source)
        for name, (command, port, source) in servers.items()
    }
    with ThreadPoolExecutor(len(starts) if parallel else 1) as starting:
        entered = {n: starting.submit(stack.enter_context, c) for n, c in starts.items()}
        return {name: future.result() for name, future in entered.items()}


def main() -> None:
    args = _arguments()
    model = model_under_test(args.model)
    spec = model.spec
    tokenizer = get_tokenizer(str(model.checkpoint))
    concurrencies = [int(value) for value in args.concurrency.split(",")]
    load_at_start = os.getloadavg()[0]  # other jobs on this machine: said in the doc
    # Each suite has its own result files and section of docs/benchmarks.md.
    label = spec.name if args.suite == "photos" else f"{spec.name}-{args.suite}"
    results: dict[str, Any] = {
        "model": label,
        "requests": args.requests,
        "repeats": args.repeats,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine_description(),
        "workloads": {},
    }
    with tempfile.TemporaryDirectory() as scratch, _file_host(Path(scratch)) as image_url:
        if args.suite == "random-mm":
            sizes = parse_sizes(args.sizes)
            workloads = random_mm_workloads(tokenizer, args.requests, sizes, concurrencies)
        else:
            workloads = build_workloads(args.requests, concurrencies, image_url)
        if args.only:
            workloads = [w for w in workloads if w.name.startswith(tuple(args.only.split(",")))]
        logs, profiles = _output_folders(args.out, args.profile)
        servers = _server_commands(args, model)
        with contextlib.ExitStack() as stack:
            up = _start_servers(stack, servers, logs, args.parallel_start)
            for workload, by_server in measure_cells(
                up, workloads, Path(scratch), spec.name, tokenizer, profiles, args.repeats, label
            ).items():
                results["workloads"][workload] = by_server
            rss = {name: server.peak_rss_bytes for name, server in up.items()}
    results["load_average"] = [load_at_start, os.getloadavg()[0]]
    results["peak_rss_mib"] = {name: value / 2**20 for name, value in rss.items()}
    print(report.markdown_table(results))
    report.write_outputs(results, args.out)
    if args.profile:
        profile.write_summary(args.out / "profiles", label, args.out)
    report.write_summary(args.out, args.doc)


def _server_commands(
    args: argparse.Namespace, model: ModelUnderTest
) -> dict[str, tuple[list[str], int, Path | None]]:
    """Each server's command, port and source tree (None: this one): vLLM's own, then ours on
    the same checkpoint, then an earlier tree of ours with --baseline."""
    vllm_port, ours_port = free_port(), free_port()
    extra = args.ours_args.split()
    servers: dict[str, tuple[list[str], int, Path | None]] = {
        "vllm": (vllm_command(model.spec, model.checkpoint, vllm_port), vllm_port, None),
        "llava-serve": (ours_command(model.given, model.home, ours_port, extra), ours_port, None),
    }
    if args.baseline is not None:
        port = free_port()
        command = ours_command(model.given, model.home, port, extra)
        servers["baseline"] = (command, port, args.baseline.resolve())
    return servers


if __name__ == "__main__":
    main()
