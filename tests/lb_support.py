"""Replicas behind a real load balancer, for the rolling-restart test: llava-serve processes
(real vLLM engines on the tiny checkpoint), Debian's HAProxy in front of them on loopback, and
a steady load of streaming and non-streaming chat requests that records every outcome.

Each replica is its own process group, so stopping it always takes vLLM's engine core along."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.servers import engine_cores

# Bounds that only stop a broken run: an engine start-up on a busy 2-core machine took 6 min.
STARTUP_TIMEOUT_S = 1200.0
EVENT_TIMEOUT_S = 300.0
API_KEY = "rolling-restart-key"
CHAT_ROUTE = "/v1/chat/completions"
# HAProxy asks every replica's /ready twice a second; two failures take it out, two successes
# bring it back. The replicas' lame-duck period outlasts that with room for a slow check.
CHECK_INTERVAL_MS = 500
CHECKS_TO_FLIP = 2
LAME_DUCK_S = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = EVENT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"no {what} after {timeout_s:.0f} s")


def status_of(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return 0


@dataclass
class Replica:
    """One llava-serve process on its own API and metrics ports; restartable on the same ones."""

    index: int  # replicas on different cores, as an operator would place them
    home: Path
    log_dir: Path
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def name(self) -> str:
        return f"replica{self.index + 1}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        env = {
            **os.environ,
            **engine_cores(self.index),
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "LLAVA_SERVE_MODEL": "tiny-llava-hf",
            "LLAVA_SERVE_HOME": str(self.home),
            "LLAVA_SERVE_PORT": str(self.port),
            "LLAVA_SERVE_METRICS_PORT": str(self.metrics_port),
            "LLAVA_SERVE_API_KEYS": API_KEY,
            "LLAVA_SERVE_LAME_DUCK_S": str(LAME_DUCK_S),
        }
        command = [sys.executable, "-m", "server.cli", "serve"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.process.returncode}:\n{self.log()}")
            return status_of(f"{self.url}/ready") == 200

        wait_for(ready, f"{self.name} ready", STARTUP_TIMEOUT_S)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill_group(self) -> None:
        """SIGKILL to the API process and vLLM's engine core at once: a crashed machine."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=EVENT_TIMEOUT_S)

    def wait_exit(self) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=EVENT_TIMEOUT_S)
        # The engine core exits with its parent; anything left of the group goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return code

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def stop(self) -> None:
        """SIGTERM, a bounded wait for the drain, then nothing of the group is left."""
        self.terminate()
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


def stop_all(replicas: list[Replica]) -> None:
    """All replicas drain at once: their lame-duck periods and drains overlap."""
    for replica in replicas:
        replica.terminate()
    for replica in replicas:
        replica.stop()


HAPROXY_CONFIG = """\
global
    stats socket {socket} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    # A replica on a busy test machine may stall for seconds: only a 503, a refused
    # connection (a SIGKILLed replica) or no answer within 10 s counts against it.
    timeout check 10s
    # A connection refused (a replica gone before the health check noticed) is retried on
    # another replica; requests are never retried once a replica has taken them.
    retries 3
    option redispatch 1

frontend api
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server check inter {interval}ms fall {flip} rise {flip}
{servers}
"""


@dataclass
class HAProxy:
    """Debian's haproxy in front of the replicas, health-checking /ready."""

    folder: Path
    replicas: list[Replica]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> Path:
        return self.folder / "haproxy.sock"

    def start(self) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        servers = "\n".join(f"    server {r.name} 127.0.0.1:{r.port}" for r in self.replicas)
        config = self.folder / "haproxy.cfg"
        config.write_text(
            HAPROXY_CONFIG.format(
                socket=self.socket_path,
                port=self.port,
                interval=CHECK_INTERVAL_MS,
                flip=CHECKS_TO_FLIP,
                servers=servers,
            )
        )
        check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        log = (self.folder / "haproxy.log").open("wb")
        self.process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=log)
        wait_for(self.socket_path.exists, "HAProxy's stats socket")

    def stats(self) -> dict[str, dict[str, str]]:
        """`show stat` per replica: status (UP, DOWN, ...), scur (sessions now), stot..."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.socket_path))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        rows = csv.DictReader(data.decode().lstrip("# ").splitlines())
        names = {r.name for r in self.replicas}
        return {row["svname"]: row for row in rows if row["svname"] in names}

    def status(self, replica: Replica) -> str:
        return self.stats()[replica.name]["status"].split()[0]

    def wait_status(self, replica: Replica, wanted: str) -> None:
        wait_for(lambda: self.status(replica) == wanted, f"HAProxy to see {replica.name} {wanted}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@dataclass
class Outcome:
    streamed: bool
    started: float
    ended: float
    ok: bool
    detail: str = ""


@dataclass
class Load:
    """Steady load through the load balancer: `streams` workers streaming, `plain` workers
    not, each sending its next request `pause_s` after the last one is answered (steady, and
    light enough to leave a restarting replica CPU to load its engine). Every request must get
    a 200 and a complete answer (a finish reason; for streams, [DONE] after it)."""

    url: str
    model: str
    streams: int = 2
    plain: int = 2
    pause_s: float = 1.5
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, max_s: float) -> None:
        """Until stop() or max_s (a bound, so a broken run ends by itself)."""
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=120) as client:
            workers = [self._worker(client, True) for _ in range(self.streams)]
            workers += [self._worker(client, False) for _ in range(self.plain)]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max_s):
                    await asyncio.gather(*workers)

    def stop(self) -> None:
        self._stop.set()

    async def _worker(self, client: httpx.AsyncClient, streamed: bool) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                detail = await (self._stream(client) if streamed else self._plain(client))
                ok = detail == ""
            except httpx.HTTPError as error:
                ok, detail = False, f"{type(error).__name__}: {error}"
            self.outcomes.append(Outcome(streamed, started, time.monotonic(), ok, detail))
            await asyncio.sleep(self.pause_s)

    def _body(self, stream: bool) -> dict[str, object]:
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": "Tell me a story."}],
            "max_tokens": 24,
            "ignore_eos": True,
            "temperature": 1.0,
            "stream": stream,
        }

    async def _plain(self, client: httpx.AsyncClient) -> str:
        reply = await client.post(CHAT_ROUTE, json=self._body(False))
        if reply.status_code != 200:
            return f"{reply.status_code}: {reply.text[:200]}"
        choice = reply.json()["choices"][0]
        complete = choice["finish_reason"] == "length" and choice["message"]["content"]
        return "" if complete else f"incomplete answer: {choice}"

    async def _stream(self, client: httpx.AsyncClient) -> str:
        finish, done = None, False
        async with client.stream("POST", CHAT_ROUTE, json=self._body(True)) as reply:
            if reply.status_code != 200:
                return f"{reply.status_code}: {(await reply.aread())[:200]!r}"
            async for line in reply.aiter_lines():
                if line == "data: [DONE]":
                    done = True
                elif line.startswith("data: "):
                    choices = json.loads(line[6:]).get("choices") or [{}]
                    finish = choices[0].get("finish_reason") or finish
        return "" if finish == "length" and done else f"cut stream: finish={finish} done={done}"

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def answered_after(self, moment: float) -> int:
        return sum(1 for o in self.outcomes if o.ok and o.started > moment)
