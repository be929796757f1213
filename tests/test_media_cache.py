"""The decoded-image cache: hits, LRU order, and the byte bound."""

from __future__ import annotations

from PIL import Image

from server.media.cache import DecodedImageCache, content_key
from server.media.decode import DecodedImage


def image(side: int) -> DecodedImage:
    return DecodedImage(Image.new("RGB", (side, side)), "PNG")


def test_content_key_is_stable_and_discriminating() -> None:
    assert content_key(b"abc") == content_key(b"abc")
    assert content_key(b"abc") != content_key(b"abd")


def test_hit_and_least_recently_used_eviction() -> None:
    cache = DecodedImageCache(max_bytes=3 * 10 * 10 * 3)  # room for three 10x10 RGB images
    for key in "abc":
        cache.put(key, image(10))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("d", image(10))
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 3


def test_an_image_larger_than_the_bound_is_not_kept() -> None:
    cache = DecodedImageCache(max_bytes=100)
    cache.put("big", image(10))
    assert cache.get("big") is None and len(cache) == 0
