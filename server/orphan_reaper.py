"""Ends vLLM's engine processes if the API process dies without stopping them (kill -9, the OOM
killer): outside a container nothing else would, and they hold the weights' memory for good.

A small process started by the API process with a pipe on its stdin: the kernel closes the
pipe when the API process dies, however it dies, and the end-of-file wakes the reaper. After a
normal shutdown vLLM has stopped its processes already and the reaper just exits."""

from __future__ import annotations

import subprocess
import sys
from contextlib import suppress

import psutil

# After SIGTERM, how long an engine process has to exit before SIGKILL.
TERM_GRACE_S = 5.0


def watch_children() -> subprocess.Popen[bytes]:
    """Starts a reaper for the current process's child processes (call once they run)."""
    children = psutil.Process().children(recursive=True)
    # Process identity is pid + start time, so a reused pid is never killed.
    identities = [f"{child.pid}:{child.create_time()!r}" for child in children]
    return subprocess.Popen(
        [sys.executable, "-m", "server.orphan_reaper", *identities],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _still_ours(identity: str) -> psutil.Process | None:
    pid, created = identity.split(":", 1)
    with suppress(psutil.Error):
        process = psutil.Process(int(pid))
        if repr(process.create_time()) == created:
            return process
    return None


def main(identities: list[str]) -> None:
    sys.stdin.buffer.read()  # returns at end-of-file: the API process is gone
    processes = [p for p in map(_still_ours, identities) if p is not None]
    for process in processes:
        with suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=TERM_GRACE_S)
    for process in alive:
        with suppress(psutil.Error):
            process.kill()


if __name__ == "__main__":
    main(sys.argv[1:])
