"""Where the machine's CPU goes per request, in each server's processes and in the benchmark
client (`python -m benchmarks.cpu_budget`): vLLM's random-mm at one image size and
concurrency, vLLM's own server and llava-serve on the same checkpoint, runs interleaved
(A-B-B-A), every process's and thread's CPU time read before and after each run.

When the client keeps the machine busy (concurrency above the cores), requests per second are
about the cores divided by the CPU time one request costs in all processes together, so the
table says which process's time decides a ratio. The engine's processes spin (sched_yield)
while they wait for each other, so part of their time is CPU that nothing else wanted."""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from vllm.tokenizers import TokenizerLike, get_tokenizer

from benchmarks.measure import measure
from benchmarks.random_mm import parse_sizes, random_mm_workloads
from benchmarks.servers import RunningServer, model_under_test, start_both
from benchmarks.workloads import Workload

# vLLM names its processes (the kernel keeps 15 characters of a name: "VLLM::EngineCor").
ENGINE_ROLES = {"VLLM::EngineCor": "engine core process", "VLLM::Worker": "model worker process"}
EVENT_LOOP, API_THREADS, CLIENT = "API event loop", "API other threads", "benchmark client"
ROWS = [EVENT_LOOP, API_THREADS, *ENGINE_ROLES.values(), "other server processes", CLIENT]


@dataclass
class Budget:
    """One server's runs: CPU seconds by role, requests, wall time and each run's req/s."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ROWS, 0.0))
    requests: int = 0
    wall_s: float = 0.0
    throughputs: list[float] = field(default_factory=list)

    def add(self, seconds: dict[str, float]) -> None:
        for role, value in seconds.items():
            self.seconds[role] += value

    def throughput(self) -> float:
        return statistics.median(self.throughputs)

    def cores_busy(self) -> float:
        return sum(self.seconds.values()) / self.wall_s

    def per_request_ms(self, role: str) -> float:
        return self.seconds[role] / self.requests * 1000

    def total_ms(self) -> float:
        return sum(self.per_request_ms(role) for role in ROWS)

    def api_ms(self) -> float:
        return self.per_request_ms(EVENT_LOOP) + self.per_request_ms(API_THREADS)


def server_cpu_seconds(server: RunningServer) -> dict[str, float]:
    """CPU seconds so far of the API process (its event-loop thread apart) and its children."""
    api = psutil.Process(server.process.pid)
    seconds = dict.fromkeys(ROWS, 0.0)
    # The process's time holds its ended threads' too; the main thread runs the event loop.
    main_thread = next(thread for thread in api.threads() if thread.id == api.pid)
    seconds[EVENT_LOOP] = main_thread.user_time + main_thread.system_time
    seconds[API_THREADS] = sum(api.cpu_times()[:2]) - seconds[EVENT_LOOP]
    for child in api.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = child.cpu_times()
            name = child.name()
            prefix = next((prefix for prefix in ENGINE_ROLES if name.startswith(prefix)), None)
            role = ENGINE_ROLES[prefix] if prefix else "other server processes"
            seconds[role] += times.user + times.system
    return seconds


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured_run(
    server: RunningServer,
    run: Workload,
    args: argparse.Namespace,
    tokenizer: TokenizerLike,
    budget: Budget,
) -> None:
    server_before, client_before = server_cpu_seconds(server), client_cpu_seconds()
    started = time.monotonic()
    summary = measure(run, args.concurrency, server.base_url, args.model, tokenizer)
    budget.wall_s += time.monotonic() - started
    server_after = server_cpu_seconds(server)
    budget.add({role: server_after[role] - server_before[role] for role in ROWS})
    budget.seconds[CLIENT] += client_cpu_seconds() - client_before
    budget.requests += summary["completed"]
    budget.throughputs.append(summary["request_throughput"])


def _row(label: str, cells: list[str]) -> str:
    return f"| {label} | " + " | ".join(cells) + " |"


def report(budgets: dict[str, Budget], args: argparse.Namespace) -> str:
    names = list(budgets)
    lines = [
        f"random-mm {args.size}, concurrency {args.concurrency}, {args.requests} requests per "
        f"run, {args.repeats} runs per server, {os.cpu_count()} cores; CPU ms per request:",
        "",
        _row("", names),
        "|---|" + "---:|" * len(names),
    ]
    for role in ROWS:
        lines.append(_row(role, [f"{budgets[n].per_request_ms(role):.1f}" for n in names]))
    lines.append(_row("**all processes**", [f"**{budgets[n].total_ms():.1f}**" for n in names]))
    lines.append(_row("cores busy", [f"{budgets[n].cores_busy():.2f}" for n in names]))
    lines.append(_row("req/s (median run)", [f"{budgets[n].throughput():.1f}" for n in names]))
    vllm, ours = budgets["vllm"], budgets["llava-serve"]
    lines += [
        "",
        f"llava-serve / vLLM's server: {ours.throughput() / vllm.throughput():.2f}x requests per "
        f"second; the API process's CPU per request {ours.api_ms():.1f} / {vllm.api_ms():.1f} "
        f"ms ({ours.api_ms() / vllm.api_ms():.2f}x).",
    ]
    return "\n".join(lines)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tiny-llava-hf")
    parser.add_argument("--size", default="2048x1536")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=64, help="requests per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs per server")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    model = model_under_test(args.model)
    tokenizer = get_tokenizer(str(model.checkpoint))
    [workload] = random_mm_workloads(tokenizer, args.requests, parse_sizes(args.size), [])
    budgets = {name: Budget() for name in ("vllm", "llava-serve")}
    with tempfile.TemporaryDirectory() as logs, contextlib.ExitStack() as stack:
        servers = start_both(stack, model, Path(logs))
        run_number = 0
        for repeat in range(args.repeats):
            order = list(servers) if repeat % 2 == 0 else list(reversed(servers))
            for name in order:
                run_number += 1
                run = workload.for_run(run_number)
                measured_run(servers[name], run, args, tokenizer, budgets[name])
    print(report(budgets, args))


if __name__ == "__main__":
    main()
