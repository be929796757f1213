"""A bounded LRU of decoded images by content hash, so a repeated image is neither fetched
(data: URLs), decoded nor resized again; the same hash is vLLM's multi-modal UUID, so vLLM's
processor and encoder caches hit without hashing the pixels again."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from PIL import Image


def content_key(data: bytes | str) -> str:
    """sha256 of the bytes, or of a data: URL as sent (which skips decoding its base64)."""
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


class DecodedImageCache:
    """Least-recently-used images, bounded by their decoded size. Used from the event loop only."""

    def __init__(self, max_bytes: int):
        self._max_bytes = max_bytes
        self._bytes = 0
        self._images: OrderedDict[str, Image.Image] = OrderedDict()

    def get(self, key: str) -> Image.Image | None:
        image = self._images.get(key)
        if image is not None:
            self._images.move_to_end(key)
        return image

    def put(self, key: str, image: Image.Image) -> None:
        size = _decoded_bytes(image)
        if size > self._max_bytes or key in self._images:
            return
        self._images[key] = image
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, evicted = self._images.popitem(last=False)
            self._bytes -= _decoded_bytes(evicted)

    def __len__(self) -> int:
        return len(self._images)


def _decoded_bytes(image: Image.Image) -> int:
    width, height = image.size
    return width * height * len(image.getbands())
