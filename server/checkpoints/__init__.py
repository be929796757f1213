"""Builders of the small deterministic checkpoints that tests and the default `serve` use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from server.checkpoints.tiny_hf import build_bench_llava_hf, build_tiny_llava_hf

TINY_BUILDERS: Final[dict[str, Callable[[Path], Path]]] = {
    "tiny-llava-hf": build_tiny_llava_hf,
    "bench-llava-hf-336": build_bench_llava_hf,
}
