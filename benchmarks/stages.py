"""Where a large data-URL image's time goes in the API process, stage by stage, with the
candidates for each stage side by side (`python -m benchmarks.stages`): the request is one
random-mm noise JPEG as vLLM's benchmark client sends it. Each figure is the fastest of
several repeats on one core (the least disturbed by other jobs on a shared machine)."""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import timeit
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import pybase64
import pydantic_core
from PIL import Image
from transformers import AutoImageProcessor

from server.chat.schemas import ChatCompletionRequest
from server.media.cache import content_key
from server.media.decode import ImageLimits, decode_image
from server.media.fetch import decode_data_url

LIMITS = ImageLimits(max_pixels=40_000_000)


def noise_jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """As vLLM's random-mm makes them: uniform noise, saved by Pillow as JPEG (quality 75)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def request_body(jpeg: bytes) -> bytes:
    url = f"data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}"
    image = {"type": "image_url", "image_url": {"url": url}}
    message = {"role": "user", "content": [{"type": "text", "text": "Describe it."}, image]}
    body = {"model": "tiny-llava-hf", "messages": [message], "max_tokens": 32, "stream": True}
    return json.dumps(body).encode()


def fastest_ms(function: Callable[[], Any], repeats: int) -> float:
    return 1000 * min(timeit.repeat(function, number=1, repeat=repeats))


def stage_rows(
    body: bytes, tower: int, processor: Any, repeats: int
) -> list[tuple[str, str, float]]:
    """(stage, way, ms) for every way of doing every stage."""
    parsed = json.loads(body)
    url = parsed["messages"][0]["content"][1]["image_url"]["url"]
    payload = url.partition(",")[2]
    data = pybase64.b64decode(payload, validate=True)
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    drafted = decode_image(data, "image/jpeg", LIMITS, tower).image
    full = decode_image(data, "image/jpeg", LIMITS, None).image
    ways: list[tuple[str, str, Callable[[], Any]]] = [
        ("body read", "join of 64 KiB ASGI chunks (Starlette)", lambda: b"".join(chunks)),
        ("JSON parse", "json.loads (FastAPI's default; before)", lambda: json.loads(body)),
        ("JSON parse", "pydantic_core.from_json (now)", lambda: pydantic_core.from_json(body)),
        ("JSON parse", "msgspec.json.decode", lambda: msgspec.json.decode(body)),
        ("validation", "pydantic model_validate (FastAPI)", lambda: _validate(parsed)),
        ("parse + validation", "pydantic model_validate_json", lambda: _validate_json(body)),
        ("base64", "base64.b64decode(validate=True) (before)", lambda: _stdlib_b64(payload)),
        ("base64", "pybase64.b64decode(validate=True) (now)", lambda: _pybase64(payload)),
        ("hash", "sha256 of the data URL as sent (before)", lambda: _sha256_url(url)),
        ("hash", "sha256 of the image bytes", lambda: hashlib.sha256(data).hexdigest()),
        ("hash", "BLAKE3 of the image bytes (now)", lambda: content_key(data)),
        ("JPEG decode + RGB", "full size (vLLM's server; exact mode)", lambda: _decode(data, None)),
        (
            "JPEG decode + RGB",
            f"draft mode, tower {tower} px (fast mode)",
            lambda: _decode(data, tower),
        ),
        (
            "hand-off",
            "HF processor on the full-size image (vLLM's server)",
            lambda: processor(full),
        ),
        ("hand-off", "HF processor on the draft-size image (ours)", lambda: processor(drafted)),
        ("data: URL total", "decode_data_url (ours, now)", lambda: decode_data_url(url, 1 << 26)),
    ]
    return [(stage, way, fastest_ms(function, repeats)) for stage, way, function in ways]


def _validate(parsed: dict[str, Any]) -> object:
    return ChatCompletionRequest.model_validate(parsed)


def _validate_json(body: bytes) -> object:
    return ChatCompletionRequest.model_validate_json(body)


def _stdlib_b64(payload: str) -> bytes:
    return base64.b64decode(payload, validate=True)


def _pybase64(payload: str) -> bytes:
    return pybase64.b64decode(payload, validate=True)


def _sha256_url(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _decode(data: bytes, tower: int | None) -> Image.Image:
    return decode_image(data, "image/jpeg", LIMITS, tower).image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True, help="for its image processor and size")
    parser.add_argument("--sizes", default="2048x1536,4032x3024")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    processor = AutoImageProcessor.from_pretrained(args.checkpoint)
    tower = int(processor.crop_size["height"])
    for size in args.sizes.split(","):
        width, height = (int(side) for side in size.split("x"))
        jpeg = noise_jpeg(width, height)
        body = request_body(jpeg)
        megabytes = f"{len(jpeg) / 1e6:.2f} MB, body {len(body) / 1e6:.2f} MB"
        print(f"\n**{width}x{height}** noise JPEG: {megabytes}\n")
        print("| stage | way | ms |\n|---|---|---:|")
        for stage, way, ms in stage_rows(body, tower, processor, args.repeats):
            print(f"| {stage} | {way} | {ms:.2f} |")


if __name__ == "__main__":
    main()
