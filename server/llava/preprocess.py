"""Image preprocessing as the original code does it (llava/mm_utils.py process_images).

`pad`: paste the image onto a square of the image processor's mean colour (expand2square),
then the CLIP processor resizes, centre-crops and normalises it; `square`: the CLIP
processor alone (shortest edge resized, centre crop: the sides of a long image are lost).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from transformers import CLIPImageProcessor


def expand2square(image: Image.Image, background: tuple[int, ...]) -> Image.Image:
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    result = Image.new(image.mode, (side, side), background)
    result.paste(image, ((side - width) // 2, (side - height) // 2))
    return result


def mean_colour(processor: CLIPImageProcessor) -> tuple[int, ...]:
    return tuple(int(value * 255) for value in processor.image_mean)


def pixel_values(
    images: Sequence[Image.Image], processor: CLIPImageProcessor, aspect_ratio: str
) -> torch.Tensor:
    """(n, 3, crop, crop) float32 pixel values of RGB images."""
    rgb = [image.convert("RGB") for image in images]
    if aspect_ratio == "pad":
        background = mean_colour(processor)
        rgb = [expand2square(image, background) for image in rgb]
    values = processor(images=rgb, return_tensors="pt")["pixel_values"]
    assert isinstance(values, torch.Tensor)
    return values
