"""Loads the images of a request: fetches concurrently, decodes in a bounded thread pool, and
keeps decoded images by content hash so a repeated image is decoded once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image

from server import metrics
from server.errors import BadRequestError
from server.media.cache import DecodedImageCache, content_key
from server.media.cores import usable_cores
from server.media.decode import (
    DecodedImage,
    ImageLimits,
    Probe,
    check_declared,
    decode_image,
    probe_image,
)
from server.media.fair_share import OriginSlots, origin_of
from server.media.fetch import (
    FetchLimits,
    Media,
    decode_data_url,
    fetch_url,
    guarded_client,
    read_jailed_file,
)
from server.media.guard import MediaPolicy
from server.media.memory import return_large_blocks_to_the_system
from server.media.pixel_budget import PixelBudget, check_request_pixels
from server.settings import Settings

T = TypeVar("T")
# How much of a URL's head holds its scheme: accepted ones have at most 5 characters, and an
# unknown one up to this long is still named in the refusal.
_SCHEME_HEAD = 32


@dataclass(frozen=True)
class Found:
    """An image read and identified: cached, or probed and still to be decoded."""

    source: str  # the URL's scheme, for metrics
    media: Media
    key: str
    cached: DecodedImage | None = None
    probe: Probe | None = None


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image and its content hash, which vLLM takes as the image's cache key."""

    image: Image.Image
    key: str


class MediaLoader:
    """Owns the guarded HTTP client and the decode pool; one per server, closed at shutdown."""

    def __init__(self, settings: Settings, tower_input_size: int):
        """tower_input_size: the vision tower's input side. In the fast decode mode JPEGs are
        decoded in draft mode down to about that size (the processor resizes to it anyway)."""
        self._settings = settings
        fast = settings.media_decode_mode == "fast"
        self._draft_edge = tower_input_size if fast else None
        self._policy = MediaPolicy.from_settings(settings)
        self._fetch_limits = FetchLimits(
            max_bytes=settings.media_max_bytes,
            max_redirects=settings.media_max_redirects,
            timeout_s=settings.media_fetch_timeout_s,
        )
        self._image_limits = ImageLimits(
            max_pixels=settings.media_max_image_pixels,
            min_side=settings.media_min_image_side,
            max_aspect_ratio=settings.media_max_aspect_ratio,
        )
        # Enough connections for every admitted request's share: the fair shares below, not
        # the pool, decide who waits (a pool of 32 shared by all let 9 slow requests hold it).
        connections = settings.max_running_requests * settings.media_fetches_per_request
        self._client = guarded_client(
            self._policy,
            settings.media_connect_timeout_s,
            settings.media_fetch_timeout_s,
            max_connections=connections,
        )
        self._origins = OriginSlots(settings.media_fetches_per_host)
        self._pool = ThreadPoolExecutor(
            max_workers=settings.media_decode_workers or usable_cores(),
            thread_name_prefix="image-decode",
        )
        self._cache = DecodedImageCache(settings.media_cache_mib * 2**20)
        self._pixels = PixelBudget(
            settings.media_max_inflight_pixels, settings.overload_retry_after_s
        )
        return_large_blocks_to_the_system()

    async def load_all(self, urls: list[str]) -> list[LoadedImage]:
        """All images are read and their headers checked first; then what decoding will cost
        is checked against the pixel budgets before any pixel is decoded."""
        draft_edge = self._draft_edge
        downloads = asyncio.Semaphore(self._settings.media_fetches_per_request)
        found = await asyncio.gather(*(self._find(url, draft_edge, downloads) for url in urls))
        pixels = sum(item.probe.pixels for item in found if item.probe is not None)
        settings = self._settings
        check_request_pixels(
            pixels, min(settings.media_max_request_pixels, settings.media_max_inflight_pixels)
        )
        with self._pixels.hold(pixels):
            return list(await asyncio.gather(*(self._decode(item, draft_edge) for item in found)))

    async def _find(self, url: str, draft_edge: int | None, downloads: asyncio.Semaphore) -> Found:
        """The image's bytes and key, and the cached image or the header's probe.
        downloads: the request's share of concurrent downloads."""
        scheme = _scheme(url)
        source = _source(scheme)
        try:
            with metrics.IMAGE_FETCH_SECONDS.labels(source=source).time():
                media = await self._read(url, scheme, downloads)
            # Keyed by the bytes whatever brought them. Draft decoding changes the pixels: its
            # own variant. Hashing megabytes and reading headers run in the pool.
            variant = f":{draft_edge}" if draft_edge else ":exact"
            key = await self._in_pool(content_key, media.data) + variant
            if (cached := self._cache.get(key)) is not None:
                # The type declared this time must name the bytes, as on a miss.
                check_declared(cached.format, media.media_type)
                metrics.IMAGE_CACHE_HITS.inc()
                return Found(source, media, key, cached=cached)
            limits = self._image_limits
            probe = await self._in_pool(
                probe_image, media.data, media.media_type, limits, draft_edge
            )
        except Exception:
            metrics.IMAGES.labels(source=source, outcome="error").inc()
            raise
        return Found(source, media, key, probe=probe)

    async def _decode(self, item: Found, draft_edge: int | None) -> LoadedImage:
        if item.cached is not None:
            metrics.IMAGES.labels(source=item.source, outcome="ok").inc()
            return LoadedImage(item.cached.image, item.key)
        try:
            with metrics.IMAGE_DECODE_SECONDS.time():
                data, declared = item.media.data, item.media.media_type
                decoded = await self._in_pool(
                    decode_image, data, declared, self._image_limits, draft_edge
                )
        except Exception:
            metrics.IMAGES.labels(source=item.source, outcome="error").inc()
            raise
        metrics.IMAGES.labels(source=item.source, outcome="ok").inc()
        if (
            decoded.image.width * decoded.image.height
            <= self._settings.media_cache_max_image_pixels
        ):
            self._cache.put(item.key, decoded)
        return LoadedImage(decoded.image, item.key)

    async def _in_pool(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    async def _read(self, url: str, scheme: str, downloads: asyncio.Semaphore) -> Media:
        max_bytes = self._settings.media_max_bytes
        loop = asyncio.get_running_loop()
        if scheme == "data":  # base64 of megabytes: not on the event loop either
            return await loop.run_in_executor(self._pool, decode_data_url, url, max_bytes)
        if scheme in ("http", "https"):
            async with downloads, self._origins.slot(origin_of(url)):
                return await fetch_url(self._client, url, self._policy, self._fetch_limits)
        if scheme == "file":
            root = self._settings.media_file_root
            return await loop.run_in_executor(self._pool, read_jailed_file, url, root, max_bytes)
        raise BadRequestError(
            f"Unsupported image URL scheme {scheme[:20]!r}: use data: or http(s).",
            param="image_url",
        )

    async def aclose(self) -> None:
        await self._client.aclose()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _scheme(url: str) -> str:
    """The URL's scheme, lower-cased ("" without one). Only the URL's head is looked at: the
    rest may be a multi-megabyte data URL, which this runs on the event loop for."""
    scheme, colon, _ = url[: _SCHEME_HEAD + 1].partition(":")
    return scheme.lower() if colon else ""


def _source(scheme: str) -> str:
    """The metrics' label for a scheme."""
    return scheme if scheme in ("data", "http", "https", "file") else "other"
