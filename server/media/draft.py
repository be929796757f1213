"""JPEG draft-mode decoding: let libjpeg scale by 1/2, 1/4 or 1/8 while decoding, never below
the vision tower's input size, so a phone photo is not decoded at full size only to be shrunk.

The result differs slightly from a full decode followed by the processor's resize; the
difference is measured in docs/benchmarks.md. `exact` mode (media_decode_mode) turns it off.
"""

from __future__ import annotations

from PIL import Image


def draft_size(size: tuple[int, int], edge: int) -> tuple[int, int]:
    """The smallest size to ask libjpeg for whose shorter side still reaches `edge`."""
    width, height = size
    scale = edge / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def apply_draft(image: Image.Image, edge: int) -> None:
    """Before the pixels are decoded: pick the largest DCT scaling that keeps `edge` pixels."""
    if image.format == "JPEG" and min(image.size) >= 2 * edge:
        # draft() picks a scale whose result is at least the requested size on both sides.
        image.draft("RGB", draft_size(image.size, edge))
