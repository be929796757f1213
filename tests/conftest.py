"""One real llava-serve (real vLLM engine on the tiny checkpoint) per test session, shared."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from server.model_repo import resolve_model
from server.model_store import ensure_local
from server.settings import REPO_MODEL_DIR

STARTUP_TIMEOUT_S = 600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("llava-serve-home")


@pytest.fixture(scope="session")
def tiny_checkpoint(home: Path) -> Path:
    return ensure_local(resolve_model("tiny-llava-hf", REPO_MODEL_DIR), home).model


def start_server(args: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "server.cli", "serve", *args]
    with log_path.open("wb") as log:
        # A session of its own, so stop_server can end vLLM's engine processes with it.
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"server not ready after {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


# Loopback is refused as an image URL destination by default; the shared server allows exactly
# 127.0.0.1 so tests can serve images (and redirects) from local HTTP servers. Every other
# refused class (other loopback addresses, private, link-local, metadata...) stays refused.
SHARED_SERVER_SECURITY_ARGS = ["--media-allowed-networks", "127.0.0.1/32"]


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful stop), then SIGKILL to the whole process group: a test that killed
    the API process itself must not leave vLLM's engine core behind."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_server(args: list[str], home: Path, log_dir: Path) -> Iterator[str]:
    """Another real server (its own settings) for a module-scoped fixture; stopped after."""
    port = free_port()
    log_path = log_dir / f"server-{port}.log"
    process = start_server(
        ["--port", str(port), "--home", str(home), *args], log_path, server_env()
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log_path)
        yield url
    finally:
        stop_server(process)


def server_env() -> dict[str, str]:
    # A small KV cache: the tiny model needs little, and CI machines have 24 GiB for everything.
    # Test servers serve the tiny random model unless a test passes --model (a flag beats the
    # variable): the default model (llava-demo) is tested in tests/test_demo_accuracy.py.
    # No lame-duck period: no load balancer is in front of these, and each stop would wait for it.
    return {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "LLAVA_SERVE_MODEL": "tiny-llava-hf",
        "LLAVA_SERVE_LAME_DUCK_S": "0",
    }


@pytest.fixture(scope="session")
def shared_server(
    home: Path, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The session's server: (base URL, its process)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server-log") / "server.log"
    # The tiny random model explicitly: the default (llava-demo) has its own test module.
    args = ["--model", "tiny-llava-hf", "--port", str(port), "--home", str(home)]
    args += SHARED_SERVER_SECURITY_ARGS
    # Correctness tests compare with transformers on the same pixels: no JPEG draft decoding.
    args += ["--media-decode-mode", "exact"]
    process = start_server(args, log_path, server_env())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log_path)
        yield url, process
    finally:
        stop_server(process)


@pytest.fixture(scope="session")
def base_url(shared_server: tuple[str, subprocess.Popen[bytes]]) -> str:
    return shared_server[0]


@pytest.fixture(scope="session")
def base_server_pid(shared_server: tuple[str, subprocess.Popen[bytes]]) -> int:
    return shared_server[1].pid


@pytest.fixture(scope="session")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="session")
def model_id() -> str:
    return "tiny-llava-hf"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def image_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A local static file server: (base URL, folder whose files it serves)."""
    folder = tmp_path_factory.mktemp("images")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()
