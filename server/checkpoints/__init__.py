"""Builders of the small deterministic checkpoints that tests and the default `serve` use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from server.checkpoints.tiny_hf import build_bench_llava_hf, build_tiny_llava_hf
from server.checkpoints.tiny_original import (
    build_tiny_clip_v1,
    build_tiny_clip_v15,
    build_tiny_llava_v1_linear,
    build_tiny_llava_v15_mlp,
)

TINY_BUILDERS: Final[dict[str, Callable[[Path], Path]]] = {
    "tiny-llava-hf": build_tiny_llava_hf,
    "tiny-llava-v1-linear": build_tiny_llava_v1_linear,
    "tiny-llava-v15-mlp": build_tiny_llava_v15_mlp,
    "tiny-clip-v1": build_tiny_clip_v1,
    "tiny-clip-v15": build_tiny_clip_v15,
    "bench-llava-hf-336": build_bench_llava_hf,
}
