"""How far JPEG draft decoding moves the vision tower's input: the processor's pixel_values
from a full decode against those from a draft decode, on the benchmark's phone photos.

Run: .venv/bin/python -m benchmarks.draft_tolerance [--model bench-llava-hf-336]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image
from transformers import AutoProcessor

from benchmarks.servers import model_under_test
from benchmarks.workloads import phone_photo
from server.media.draft import apply_draft


def decode(data: bytes, edge: int | None) -> tuple[Image.Image, float]:
    started = time.perf_counter()
    with Image.open(io.BytesIO(data)) as image:
        if edge:
            apply_draft(image, edge)
        rgb = image.convert("RGB")
    return rgb, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="bench-llava-hf-336")
    parser.add_argument("--photos", type=int, default=8)
    args = parser.parse_args()
    checkpoint = model_under_test(args.model).checkpoint
    processor = AutoProcessor.from_pretrained(checkpoint).image_processor
    edge = int(processor.size["shortest_edge"])
    worst, mean_diffs = 0.0, []
    times: dict[str, list[float]] = {"full": [], "draft": []}
    for seed in range(args.photos):
        data = phone_photo(100 + seed)
        full, full_s = decode(data, None)
        drafted, draft_s = decode(data, edge)
        times["full"].append(full_s)
        times["draft"].append(draft_s)
        exact = processor(full, return_tensors="np")["pixel_values"][0]
        fast = processor(drafted, return_tensors="np")["pixel_values"][0]
        diff = np.abs(exact - fast)
        worst = max(worst, float(diff.max()))
        mean_diffs.append(float(diff.mean()))
    spread = float(np.std(exact))
    print(f"edge {edge}px, {args.photos} photos 2048x1536: decoded size {drafted.size}")
    print(
        f"mean |diff| {np.mean(mean_diffs):.4f}, max |diff| {worst:.3f} "
        f"(normalised units; pixel_values std {spread:.3f})"
    )
    print(
        f"decode ms: full {1000 * np.median(times['full']):.1f}, "
        f"draft {1000 * np.median(times['draft']):.1f}"
    )


if __name__ == "__main__":
    main()
