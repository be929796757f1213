"""The orphan reaper on plain processes (no engine): woken by reap_now, as by the API process's
death, it ends the watched processes still alive and only those. The engine-level cases are
tests/test_shutdown.py (kill -9 of the API process) and tests/test_engine_death.py (a killed
engine core's workers)."""

from __future__ import annotations

import signal
import subprocess
import threading

import psutil

from server import orphan_reaper


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"])


def test_reap_now_ends_the_watched_processes_still_alive() -> None:
    watched, bystander = sleeper(), sleeper()
    # Reaped here as soon as it ends (an orphaned engine process is reaped by init).
    reaping = threading.Thread(target=watched.wait)
    reaping.start()
    try:
        reaper = orphan_reaper.start_reaper([orphan_reaper.identity(psutil.Process(watched.pid))])
        orphan_reaper.reap_now(reaper)
        reaping.join()
        assert reaper.returncode == 0
        assert watched.returncode == -signal.SIGTERM
        assert bystander.poll() is None  # not on the list: left alone
    finally:
        for process in (watched, bystander):
            process.kill()
            process.wait()


def test_reap_now_after_a_clean_stop_finds_nothing_to_end() -> None:
    gone = sleeper()
    recorded = orphan_reaper.identity(psutil.Process(gone.pid))
    gone.kill()
    gone.wait()
    reaper = orphan_reaper.start_reaper([recorded])
    orphan_reaper.reap_now(reaper)
    assert reaper.returncode == 0
