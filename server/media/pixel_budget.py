"""Bounds on decoded pixels, the memory an image really costs (a 115 KB black PNG decodes to
119 MB): per request, refused with 413, and across all requests decoding at once, refused with
429 and Retry-After, so a few large images cannot take the process's memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from server.errors import OverloadedError, PayloadTooLargeError


def check_request_pixels(pixels: int, max_pixels: int) -> None:
    if pixels > max_pixels:
        raise PayloadTooLargeError(
            f"The request's images decode to {pixels} pixels in all; at most {max_pixels} are "
            "accepted per request (media_max_request_pixels).",
            param="image_url",
        )


class PixelBudget:
    """Pixels being decoded across requests: held from before decoding until the decoded
    images are handed on. Used from the event loop only."""

    def __init__(self, max_pixels: int, retry_after_s: int):
        self._free = max_pixels
        self._retry_after_s = retry_after_s

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        if pixels > self._free:
            raise OverloadedError(
                "Too many image pixels are being decoded at once; retry shortly.",
                retry_after_s=self._retry_after_s,
            )
        self._free -= pixels
        try:
            yield
        finally:
            self._free += pixels

    @property
    def free(self) -> int:
        return self._free
