"""Bytes -> RGB PIL image, with the format and size checked from the header before decoding."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from server.errors import BadRequestError

# Raster formats Pillow decodes natively and safely; never vector formats (SVG) or documents.
ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP"})


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decodes the first frame to RGB. Runs in a worker thread: it is CPU-bound."""
    if not data:
        raise BadRequestError("The image is empty (0 bytes).", param="image_url")
    try:
        with Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS)) as image:
            _check_size(image.size, max_pixels)
            image.seek(0)  # animated images: the first frame
            return image.convert("RGB")
    except UnidentifiedImageError as error:
        raise BadRequestError(
            f"The image is not in a supported format ({', '.join(sorted(ALLOWED_FORMATS))}).",
            param="image_url",
        ) from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise BadRequestError(
            f"The image could not be decoded: {error}", param="image_url"
        ) from error


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise BadRequestError(
            f"The image is {width}x{height} pixels; at most {max_pixels} pixels are accepted.",
            param="image_url",
        )
