"""Deterministic test images and the ways a client sends them."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from openai.types.chat import (
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartParam,
    ChatCompletionMessageParam,
    ChatCompletionUserMessageParam,
)
from PIL import Image, ImageDraw

# A conversation as the OpenAI SDK types it.
Messages = Sequence[ChatCompletionMessageParam]


def scene(width: int, height: int, seed: int) -> Image.Image:
    """A simple picture that differs with the seed: a background and a few coloured shapes."""
    palette = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (240, 200, 40), (150, 60, 180)]
    image = Image.new("RGB", (width, height), palette[seed % 5])
    draw = ImageDraw.Draw(image)
    for index in range(3):
        colour = palette[(seed + index + 1) % 5]
        left = (seed * 7 + index * 13) % max(1, width // 2)
        top = (seed * 11 + index * 5) % max(1, height // 2)
        box = (left, top, left + width // 3, top + height // 3)
        (draw.ellipse if (seed + index) % 2 else draw.rectangle)(box, fill=colour)
    return image


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_part(url: str) -> ChatCompletionContentPartImageParam:
    return {"type": "image_url", "image_url": {"url": url}}


def user_message(text: str, *urls: str) -> ChatCompletionUserMessageParam:
    """A user turn as the OpenAI SDK types it (a plain dict at run time, for httpx too)."""
    parts: list[ChatCompletionContentPartParam] = [image_part(url) for url in urls]
    parts.append({"type": "text", "text": text})
    return {"role": "user", "content": parts}
