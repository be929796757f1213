"""Training progress: a progress bar per stage and every step's loss in train_log.jsonl."""

from __future__ import annotations

import json
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
