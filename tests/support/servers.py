"""A real `llava-serve serve` for tests (after vLLM's tests/utils.py RemoteOpenAIServer).

`RemoteServer(settings, home=..., log_dir=...)` starts the command with the given settings as
flags, in a process group of its own; entering it waits for /ready; it hands out OpenAI clients
(sync and async) and an httpx client; leaving it, on success, error or KeyboardInterrupt, stops
the whole group, vLLM's engine-core process included. A server a test has already stopped (a
drain) or broken (a killed engine) is cleaned up the same way."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import ClassVar

import httpx
import openai

STARTUP_TIMEOUT_S = 600.0  # a bound that only stops a broken start; never a timing assertion
STOP_TIMEOUT_S = 60.0
LOG_TAIL_CHARS = 6000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(engine_index: int = 0) -> dict[str, str]:
    """The environment of every test server and engine: a small KV cache (the tiny models need
    little, and CI machines share their memory), the tiny random model unless the settings
    name another (a flag beats the variable), and the engine's own core (engine_cores)."""
    # No lame-duck period: no load balancer is in front of test servers, and every stop would
    # wait for it (tests/test_rolling_restart.py sets its own).
    return {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "LLAVA_SERVE_MODEL": "tiny-llava-hf",
        "LLAVA_SERVE_LAME_DUCK_S": "0",
        **engine_cores(engine_index),
    }


def engine_cores(engine_index: int) -> dict[str, str]:
    """Consecutive engines on different cores. vLLM's CPU backend pins an engine's OpenMP
    threads to the first core by default, and they spin: an engine starting beside a busy one
    on the same core (the next shared server booting while tests use the current one, a
    replica restarting beside a loaded one) was starved for minutes."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return {}
    return {"VLLM_CPU_OMP_THREADS_BIND": str(cores[engine_index % len(cores)])}


def setting_flags(settings: Mapping[str, str]) -> list[str]:
    """{"max_running_requests": "2"} -> ["--max-running-requests", "2"]; an on/off setting
    {"playground": "false"} -> ["--no-playground"]."""
    flags: list[str] = []
    for name, value in settings.items():
        flag = name.replace("_", "-")
        if value.lower() in ("true", "false"):
            flags.append(f"--{flag}" if value.lower() == "true" else f"--no-{flag}")
        else:
            flags += ["--" + flag, value]
    return flags


class ServerStartError(RuntimeError):
    """The server exited or did not turn ready; the message ends with its log."""


class RemoteServer:
    """One real server process; see the module docstring."""

    # Every server started in this process: counted for the session summary, and stopped at
    # exit even if a caller never entered or left its context.
    started: ClassVar[int] = 0
    _live: ClassVar[set[RemoteServer]] = set()

    def __init__(
        self,
        settings: Mapping[str, str],
        *,
        home: Path,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = dict(settings)
        self._env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v1"
        self.log_path = log_dir / f"server-{self.port}.log"
        self._home = home
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = False

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> RemoteServer:
        """Starts the process and returns at once (wait_ready waits); idempotent."""
        if self._process is not None:
            return self
        flags = setting_flags({**self.settings, "port": str(self.port), "home": str(self._home)})
        command = [sys.executable, "-m", "server.cli", "serve", *flags]
        with self.log_path.open("wb") as log:
            # A session (so a process group) of its own: stop() ends vLLM's processes with it,
            # and a Ctrl-C in the terminal reaches pytest, which then stops the server.
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**server_env(RemoteServer.started), **self._env},
                start_new_session=True,
            )
        RemoteServer.started += 1
        RemoteServer._live.add(self)
        return self

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> RemoteServer:
        process = self.process
        deadline = time.monotonic() + timeout_s
        while not self._ready:
            if process.poll() is not None:
                raise ServerStartError(f"server exited with {process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise ServerStartError(f"server not ready after {timeout_s:g} s:\n{self.log()}")
            with contextlib.suppress(httpx.TransportError):
                self._ready = httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
            if not self._ready:
                time.sleep(0.25)
        return self

    def terminate(self) -> None:
        """SIGTERM (the server drains, idle: at once, and ends vLLM); stop() finishes the job."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()

    def stop(self) -> None:
        """Waits for a graceful exit after SIGTERM, then SIGKILLs whatever is left of the group
        (a test may have killed the API process itself, leaving vLLM's engine core behind)."""
        process = self._process
        if process is None:
            return
        self.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            RemoteServer._live.discard(self)

    def __enter__(self) -> RemoteServer:
        try:
            return self.start().wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what tests use -----------------------------------------------------------------------

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("the server has not been started")
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        """The end of the server's log (stdout and stderr)."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]

    def client(self, api_key: str = "unused", **options: object) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0, **options)  # type: ignore[arg-type]

    def async_client(self, api_key: str = "unused", **options: object) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key,
            max_retries=0,
            **options,  # type: ignore[arg-type]
        )

    def http(self, **options: object) -> httpx.Client:
        """An httpx client whose relative URLs go to this server (e.g. .get("/metrics"))."""
        return httpx.Client(base_url=self.url, **options)  # type: ignore[arg-type]


@atexit.register
def _stop_leftovers() -> None:
    for server in list(RemoteServer._live):
        server.stop()
