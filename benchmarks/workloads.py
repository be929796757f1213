"""The benchmark's workloads as vLLM benchmark-client requests (SampleRequest), deterministic."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from vllm.benchmarks.datasets import SampleRequest

OUTPUT_TOKENS = 32
QUESTIONS = [
    "What is in this picture?",
    "Describe the colours you see.",
    "How many objects are there?",
    "Where is the largest shape?",
    "Is there anything red?",
    "What is on the left side?",
    "Describe the background.",
    "Which shape is nearest the top?",
]


@dataclass
class Workload:
    name: str
    description: str
    requests: list[SampleRequest]
    concurrencies: list[int]
    cold_warm: bool = False  # report the TTFT of each image's first request against repeats
    warmups: int = 2
    files: dict[str, bytes] = field(default_factory=dict)  # served over http by the harness


def small_png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    return _encode(Image.fromarray(pixels), "PNG")


def _photo_base(seed: int) -> Image.Image:
    """A 2048x1536 scene: smooth gradients, shapes and sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:1536, 0:2048].astype(np.float32)
    base = np.stack([x / 8 + 40 * seed, y / 6, (x + y) / 14], axis=-1) % 256
    image = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, 1800)), int(rng.integers(0, 1300))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x0, y0, x0 + 240, y0 + 200), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(2))
    noisy = np.asarray(image, dtype=np.int16) + rng.normal(0, 9, (1536, 2048, 3)).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


REPEATED_PHOTOS = 4  # workload c: each asked count // 4 questions in a row


def phone_photo(seed: int) -> bytes:
    """A 2048x1536 JPEG of about 1 MB."""
    return _encode(_photo_base(seed), "JPEG", quality=92)


def distinct_photos(count: int) -> list[bytes]:
    """count different ~1 MB photos (a marked patch differs), cheaper than count scenes."""
    base = _photo_base(0)
    photos = []
    for index in range(count):
        image = base.copy()
        x0, y0 = 64 * (index % 30), 48 * (index // 30 % 30)
        ImageDraw.Draw(image).rectangle(
            (x0, y0, x0 + 300, y0 + 220), fill=(index * 37 % 256, index * 91 % 256, 200)
        )
        photos.append(_encode(image, "JPEG", quality=92))
    return photos


def _encode(image: Image.Image, fmt: str, **options: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _request(text: str, image_url: str | None) -> SampleRequest:
    image = {"type": "image_url", "image_url": {"url": image_url}} if image_url else None
    return SampleRequest(
        prompt=text, prompt_len=32, expected_output_len=OUTPUT_TOKENS, multi_modal_data=image
    )


def _question(index: int) -> str:
    # About 32 prompt tokens of text, different per request.
    return f"{QUESTIONS[index % len(QUESTIONS)]} Answer in detail, request {index}, please."


def build_workloads(count: int, concurrencies: list[int], image_base_url: str) -> list[Workload]:
    """count requests per run; image_base_url is where the harness serves `files`."""
    # count photos for workload b, then REPEATED_PHOTOS more that no earlier run has sent: a
    # cold request must not find its photo in a cache warmed by workload b.
    photos = distinct_photos(count + REPEATED_PHOTOS)
    photo_files = {f"photo{i}.jpg": data for i, data in enumerate(photos[:count])}
    small = [_request(_question(i), data_url(small_png(i), "image/png")) for i in range(count)]
    by_data = [_request(_question(i), data_url(photos[i], "image/jpeg")) for i in range(count)]
    by_http = [_request(_question(i), f"{image_base_url}/photo{i}.jpg") for i in range(count)]
    repeated = [
        _request(_question(q), data_url(photos[count + p], "image/jpeg"))
        for p in range(REPEATED_PHOTOS)
        for q in range(max(2, count // REPEATED_PHOTOS))
    ]
    text_only = [_request(_question(i), None) for i in range(count)]
    top = max(concurrencies)
    return [
        Workload("a-small-image", "64x64 PNG data URL, 32 tokens in/out", small, concurrencies),
        Workload("b-photo-data-url", "2048x1536 JPEG (~1 MB) as a data URL", by_data, [8]),
        Workload(
            "b-photo-http",
            "2048x1536 JPEG (~1 MB) fetched over http",
            by_http,
            [8],
            files=photo_files,
        ),
        Workload(
            "c-repeated-photo",
            "4 photos x several questions, in order, concurrency 1",
            repeated,
            [1],
            cold_warm=True,
            warmups=0,
        ),
        Workload("d-text-only", "text only, 32 tokens in/out", text_only, [top]),
    ]


def write_files(workloads: list[Workload], folder: Path) -> None:
    for workload in workloads:
        for name, data in workload.files.items():
            (folder / name).write_bytes(data)
