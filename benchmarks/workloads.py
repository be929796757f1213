"""The benchmark's workloads as vLLM benchmark-client requests (SampleRequest), deterministic."""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
    # Given a run's number, the requests and files that run sends instead. Workload b's photos
    # must be new to the server in every run: a repeat of the same photos measures a warm cache.
    renew: Callable[[int], tuple[list[SampleRequest], dict[str, bytes]]] | None = None
    extra_body: dict[str, Any] | None = None  # request fields added to every request

    def for_run(self, run: int) -> Workload:
        if self.renew is None:
            return self
        requests, files = self.renew(run)
        return replace(self, requests=requests, files=files)


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


@functools.cache
def _series_base() -> Image.Image:
    """The scene every distinct photo marks (built once: each run of b needs a new series)."""
    return _photo_base(0)


def distinct_photos(count: int, first: int = 0) -> list[bytes]:
    """count different ~1 MB photos (a marked patch differs), cheaper than count scenes;
    photos first .. first + count - 1 of one endless series."""
    base = _series_base()
    photos = []
    for index in range(first, first + count):
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


def _run_photos(count: int, run: int, slot: int) -> list[bytes]:
    """Photos no other run or workload sends: c has the first REPEATED_PHOTOS, then each run
    of b has two slots (data URL, http) of count photos."""
    return distinct_photos(count, first=REPEATED_PHOTOS + (2 * run + slot) * count)


def _photos_by_data_url(count: int, run: int) -> tuple[list[SampleRequest], dict[str, bytes]]:
    photos = _run_photos(count, run, slot=0)
    return [_request(_question(i), data_url(p, "image/jpeg")) for i, p in enumerate(photos)], {}


def _photos_by_http(
    count: int, image_base_url: str, run: int
) -> tuple[list[SampleRequest], dict[str, bytes]]:
    photos = _run_photos(count, run, slot=1)
    files = {f"run{run}-photo{i}.jpg": data for i, data in enumerate(photos)}
    requests = [_request(_question(i), f"{image_base_url}/{name}") for i, name in enumerate(files)]
    return requests, files


def build_workloads(count: int, concurrencies: list[int], image_base_url: str) -> list[Workload]:
    """count requests per run; image_base_url is where the harness serves `files`."""
    # Workload c's photos are sent by no run of b, so a cold request is never warmed by b.
    repeated = [
        _request(_question(q), data_url(photo, "image/jpeg"))
        for photo in distinct_photos(REPEATED_PHOTOS)
        for q in range(max(2, count // REPEATED_PHOTOS))
    ]
    small = [_request(_question(i), data_url(small_png(i), "image/png")) for i in range(count)]
    text_only = [_request(_question(i), None) for i in range(count)]
    top = max(concurrencies)
    return [
        Workload("a-small-image", "64x64 PNG data URL, 32 tokens in/out", small, concurrencies),
        Workload(
            "b-photo-data-url",
            "2048x1536 JPEG (~1 MB) as a data URL",
            [],  # each run's own: renew
            [8],
            renew=functools.partial(_photos_by_data_url, count),
        ),
        Workload(
            "b-photo-http",
            "2048x1536 JPEG (~1 MB) fetched over http",
            [],
            [8],
            renew=functools.partial(_photos_by_http, count, image_base_url),
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


@contextmanager
def files_hosted(workload: Workload, folder: Path) -> Iterator[None]:
    """The workload's files in the harness's http folder for the length of one run."""
    paths = [folder / name for name in workload.files]
    for path, data in zip(paths, workload.files.values(), strict=True):
        path.write_bytes(data)
    try:
        yield
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
