"""Bytes -> RGB PIL image. The format comes from the magic bytes (and must agree with the declared
media type); size, minimum side and aspect ratio are checked from the header before decoding."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from server.errors import BadRequestError
from server.media.draft import apply_draft

# Raster formats Pillow decodes natively, each with its magic bytes and media types. Never
# vector formats (SVG), documents (PDF) or the many rarely used formats with a CVE history.
_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("PNG", b"\x89PNG\r\n\x1a\n", 0),
    ("JPEG", b"\xff\xd8\xff", 0),
    ("GIF", b"GIF87a", 0),
    ("GIF", b"GIF89a", 0),
    ("WEBP", b"WEBP", 8),  # RIFF....WEBP
)
MEDIA_TYPE_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
ALLOWED_FORMATS = frozenset(MEDIA_TYPE_FORMATS.values())


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image
    format: str  # of the bytes it came from: a cache hit checks it against the declared type


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int
    min_side: int = 1
    max_aspect_ratio: float = 1e9


def sniff_format(data: bytes) -> str | None:
    """The allowed format the magic bytes announce, or None."""
    if data[:4] == b"RIFF" and data[8:12] != b"WEBP":
        return None
    for name, magic, offset in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    return None


def image_format(data: bytes, declared: str | None) -> str:
    """The format to decode with: sniffed, and equal to the declared media type's if any."""
    if not data:
        raise BadRequestError("The image is empty (0 bytes).", param="image_url")
    sniffed = sniff_format(data)
    if sniffed is None:
        raise BadRequestError(
            f"The image is not in a supported format ({', '.join(sorted(ALLOWED_FORMATS))}).",
            param="image_url",
        )
    check_declared(sniffed, declared)
    return sniffed


def check_declared(fmt: str, declared: str | None) -> None:
    """The declared media type (data: URL or Content-Type) must name the bytes' format."""
    if declared is not None and MEDIA_TYPE_FORMATS.get(declared) != fmt:
        raise BadRequestError(
            f"The image is declared as {declared} but its bytes are {fmt}.",
            param="image_url",
        )


@dataclass(frozen=True)
class Probe:
    """What decoding an image will cost, read from its header: its format and the size it
    decodes to (a JPEG's draft size when draft decoding applies)."""

    format: str
    size: tuple[int, int]

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


def probe_image(
    data: bytes, declared: str | None, limits: ImageLimits, draft_edge: int | None = None
) -> Probe:
    """Checks format and dimensions from the header; no pixel is decoded. Worker thread."""
    fmt = image_format(data, declared)
    with _opened(data, fmt, limits, draft_edge) as image:
        return Probe(fmt, image.size)


def decode_image(
    data: bytes, declared: str | None, limits: ImageLimits, draft_edge: int | None = None
) -> DecodedImage:
    """Decodes the first frame to RGB, JPEGs in draft mode down to draft_edge if given.
    Runs in a worker thread: it is CPU-bound."""
    fmt = image_format(data, declared)
    with _opened(data, fmt, limits, draft_edge) as image:
        return DecodedImage(_decoded_rgb(image, fmt), fmt)


@contextmanager
def _opened(
    data: bytes, fmt: str, limits: ImageLimits, draft_edge: int | None
) -> Iterator[Image.Image]:
    """The image opened lazily (header only) at its first frame, dimensions checked, draft
    scaling chosen; Pillow's errors become clear 400s."""
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            check_dimensions(image.size, limits)  # from the header: nothing decoded yet
            image.seek(0)  # animated images: the first frame
            if draft_edge is not None:
                apply_draft(image, draft_edge)
            yield image
    except Image.DecompressionBombError as error:
        raise BadRequestError(
            f"The image has too many pixels (at most {limits.max_pixels} are accepted).",
            param="image_url",
        ) from error
    except UnidentifiedImageError as error:
        raise BadRequestError(f"The image is not a valid {fmt} file.", param="image_url") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise BadRequestError(
            f"The {fmt} image could not be decoded: {error}", param="image_url"
        ) from error


def _decoded_rgb(image: Image.Image, fmt: str) -> Image.Image:
    try:
        return image.convert("RGB")
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise BadRequestError(
            f"The {fmt} image could not be decoded: {error}", param="image_url"
        ) from error


def check_dimensions(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    if width * height > limits.max_pixels:
        raise BadRequestError(
            f"The image is {width}x{height} pixels; at most {limits.max_pixels} pixels are "
            "accepted.",
            param="image_url",
        )
    if min(width, height) < limits.min_side:
        raise BadRequestError(
            f"The image is {width}x{height} pixels; each side must be at least "
            f"{limits.min_side} pixels.",
            param="image_url",
        )
    if max(width, height) / min(width, height) > limits.max_aspect_ratio:
        raise BadRequestError(
            f"The image is {width}x{height} pixels; its aspect ratio is over "
            f"{limits.max_aspect_ratio:g}:1.",
            param="image_url",
        )
