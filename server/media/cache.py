"""A bounded LRU of decoded images by content hash, so a repeated image is neither decoded nor
resized again; the same hash is vLLM's multi-modal UUID, so vLLM's processor and encoder caches
hit without hashing the pixels again."""

from __future__ import annotations

from collections import OrderedDict

import blake3

from server.media.decode import DecodedImage


def content_key(data: bytes) -> str:
    """BLAKE3 of the image's bytes (a data: URL's decoded), whatever URL brought them: the
    hash vLLM itself keys multi-modal items with, 3-4x faster than sha256 here (7.3 MB: 1.6
    instead of 4.1 ms, on one core)."""
    return blake3.blake3(data).hexdigest()


class DecodedImageCache:
    """Least-recently-used images, bounded by their decoded size. Used from the event loop only."""

    def __init__(self, max_bytes: int):
        self._max_bytes = max_bytes
        self._bytes = 0
        self._images: OrderedDict[str, DecodedImage] = OrderedDict()

    def get(self, key: str) -> DecodedImage | None:
        image = self._images.get(key)
        if image is not None:
            self._images.move_to_end(key)
        return image

    def put(self, key: str, image: DecodedImage) -> None:
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


def _decoded_bytes(decoded: DecodedImage) -> int:
    width, height = decoded.image.size
    return width * height * len(decoded.image.getbands())
