"""Training progress: a progress bar per stage and every step's loss in train_log.jsonl."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm


class LossLog:
    def __init__(self, path: Path):
        self.file = path.open("w")

    def bar(self, stage: str, steps: int) -> tqdm[int]:
        return tqdm(range(steps), desc=stage, unit="step", dynamic_ncols=True)

    def write(self, stage: str, step: int, loss: float, kind: str | None = None) -> None:
        record = {"stage": stage, "step": step, "loss": round(loss, 5)}
        self.file.write(json.dumps(record | ({"kind": kind} if kind else {})) + "\n")

    @contextmanager
    def progress(
        self, stage: str, steps: int, logged_as: str
    ) -> Iterator[Callable[[int, float], None]]:
        """report(step, loss) for a loop that runs its own steps: it moves the stage's bar on
        and logs each loss under logged_as."""
        bar = self.bar(stage, steps)
        ticks = iter(bar)

        def report(step: int, loss: float) -> None:
            next(ticks, None)
            self.write(logged_as, step, loss)
            bar.set_postfix(loss=f"{loss:.4f}")

        try:
            yield report
        finally:
            bar.close()
