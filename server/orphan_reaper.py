"""Ends vLLM's engine processes if the API process dies without stopping them (kill -9, the OOM
killer), and those vLLM's own shutdown cannot reach (the workers of an engine core that was
killed): outside a container nothing else would, and they hold the weights' memory for good.

A small process started by the API process with a pipe on its stdin: the kernel closes the
pipe when the API process dies, however it dies, and the end-of-file wakes the reaper. A normal
shutdown closes the pipe itself after vLLM's (`reap_now`): by then vLLM has stopped what it
could, and the reaper ends what is left, usually nothing."""

from __future__ import annotations

import subprocess
import sys
from contextlib import suppress

import psutil

# After SIGTERM, how long an engine process has to exit before SIGKILL.
TERM_GRACE_S = 5.0
# Beyond that grace, what the reaper may take to start and finish.
REAPER_MARGIN_S = 5.0

# Python's multiprocessing resource tracker is a child too, but not an engine process: it exits
# by itself once its last writer has, and ending it early would leak shared memory.
NOT_ENGINE = "multiprocessing.resource_tracker"


def watch_children() -> subprocess.Popen[bytes]:
    """Starts a reaper for the current process's engine processes (call once they run)."""
    children = psutil.Process().children(recursive=True)
    engine = [child for child in children if NOT_ENGINE not in " ".join(child.cmdline())]
    return start_reaper([identity(child) for child in engine])


def identity(process: psutil.Process) -> str:
    # Process identity is pid + start time, so a reused pid is never killed.
    return f"{process.pid}:{process.create_time()!r}"


def start_reaper(identities: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "server.orphan_reaper", *identities],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def reap_now(reaper: subprocess.Popen[bytes]) -> None:
    """Wakes the reaper as the API process's death would, and waits until it is done."""
    assert reaper.stdin is not None
    reaper.stdin.close()
    try:
        reaper.wait(timeout=TERM_GRACE_S + REAPER_MARGIN_S)
    except subprocess.TimeoutExpired:
        reaper.kill()


def _still_ours(recorded: str) -> psutil.Process | None:
    pid, created = recorded.split(":", 1)
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
