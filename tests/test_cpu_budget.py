"""benchmarks/cpu_budget.py: each process's and thread's CPU time lands in its role's row, and
the report's rows and ratio are the budgets' (in-process; plain processes, no engine)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap

from benchmarks.cpu_budget import (
    API_THREADS,
    CLIENT,
    EVENT_LOOP,
    ROWS,
    Budget,
    report,
    server_cpu_seconds,
)
from benchmarks.servers import RunningServer

# Burns CPU until the burning thread has used the given seconds of it (not wall time: on a
# loaded machine a wall-clock loop may get little CPU).
BURN = "import time\ndef burn(s):\n    while time.thread_time() < s: pass\n"

# A stand-in "server": a child process burns 0.3 s, a second thread 0.2 s, the main thread
# 0.1 s; then it says so, and both wait to be ended.
SERVER = BURN + textwrap.dedent(
    """
    import subprocess, sys, threading
    child_code = sys.argv[1] + "burn(0.3)\\nprint(flush=True)\\ntime.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", child_code], stdout=subprocess.PIPE)
    thread = threading.Thread(target=burn, args=(0.2,))
    thread.start()
    burn(0.1)
    thread.join()
    child.stdout.readline()
    print("done", flush=True)
    sys.stdin.readline()
    """
)


def test_each_process_and_thread_is_counted_in_its_row() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, BURN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        process_group=0,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == b"done\n"
        seconds = server_cpu_seconds(RunningServer("stand-in", "", process))
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # The kernel counts in clock ticks (10 ms): a tick or two short of what was burnt.
    assert seconds[EVENT_LOOP] >= 0.07
    assert 0.17 <= seconds[API_THREADS] < 0.3
    assert seconds["other server processes"] >= 0.27


def test_the_report_gives_each_row_per_request_and_the_ratio() -> None:
    vllm, ours = Budget(requests=10, wall_s=1.0), Budget(requests=20, wall_s=1.0)
    vllm.add({EVENT_LOOP: 0.2, API_THREADS: 0.6, CLIENT: 0.1})
    ours.add({EVENT_LOOP: 0.2, API_THREADS: 0.4, CLIENT: 0.2})
    vllm.throughputs, ours.throughputs = [10.0], [20.0]
    arguments = argparse.Namespace(size="2048x1536", concurrency=8, requests=10, repeats=1)
    lines = report({"vllm": vllm, "llava-serve": ours}, arguments).splitlines()
    assert "| API event loop | 20.0 | 10.0 |" in lines
    assert "| API other threads | 60.0 | 20.0 |" in lines
    assert "| **all processes** | **90.0** | **40.0** |" in lines
    assert "| cores busy | 0.90 | 0.80 |" in lines
    assert lines[-1].startswith("llava-serve / vLLM's server: 2.00x requests per second; ")
    assert "80.0 / 30.0" not in lines[-1] and "30.0 / 80.0 ms (0.38x)" in lines[-1]
    assert set(ROWS) <= {line.split(" | ")[0].removeprefix("| ") for line in lines}
