"""Where a server's time goes under load: py-spy samples its API process while a run lasts
(`make bench BENCH_ARGS=--profile`); the busiest frames go into docs/benchmarks.md."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SAMPLES_PER_S = 250


@contextmanager
def sampled(pid: int, raw_out: Path) -> Iterator[None]:
    """py-spy records the process's Python threads (not vLLM's engine core: that is the same
    engine in both servers) while the block runs; collapsed stacks go to raw_out."""
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "--pid", str(pid), "--rate", str(SAMPLES_PER_S)]
    command += ["--format", "raw", "--output", str(raw_out), "--nonblocking"]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        recorder.wait(timeout=120)


def busiest(raw: Path, count: int = 12) -> tuple[int, list[tuple[str, int]]]:
    """(all samples, the `count` frames most often on top of a busy stack with their samples).
    A frame is 'function (file)' without line numbers, so one function is one row."""
    tops: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frame = stack.rsplit(";", 1)[-1]
        tops[_without_line(frame)] += int(samples)
        total += int(samples)
    return total, tops.most_common(count)


def _without_line(frame: str) -> str:
    """'send (starlette/responses.py:250)' -> 'send (starlette/responses.py)'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/"):
        path = path.split(marker, 1)[-1]
    return f"{name} ({path})"


def write_summary(profiles: Path, model: str, out: Path) -> None:
    """out/profile-<model>.md: for every profiled run, each server's busiest frames."""
    sections = [f"### Where the API process's time goes ({model}, py-spy, busy samples)\n"]
    for ours in sorted(profiles.glob(f"{model}-llava-serve-*.txt")):
        run = ours.stem.removeprefix(f"{model}-llava-serve-")
        sections.append(f"**{run}**\n")
        for server in ("vllm", "llava-serve", "baseline"):
            raw = profiles / f"{model}-{server}-{run}.txt"
            if raw.exists():
                sections.append(_frames_table(server, raw))
    (out / f"profile-{model}.md").write_text("\n".join(sections))


def _frames_table(server: str, raw: Path) -> str:
    total, frames = busiest(raw)
    seconds = total / SAMPLES_PER_S
    lines = [f"{server}: {seconds:.1f} s of busy Python time sampled\n", "| frame | share |"]
    lines.append("|---|---:|")
    lines += [f"| `{frame}` | {100 * n / max(total, 1):.1f}% |" for frame, n in frames]
    return "\n".join(lines) + "\n"
