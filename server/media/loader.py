"""Loads the images of a request: fetches concurrently, decodes in a bounded thread pool, and
keeps decoded images by content hash so a repeated image is decoded once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from server import metrics
from server.errors import BadRequestError
from server.media.cache import DecodedImageCache, content_key
from server.media.decode import ImageLimits, check_declared, decode_image
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
from server.settings import Settings


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
            max_workers=settings.media_decode_workers, thread_name_prefix="image-decode"
        )
        self._cache = DecodedImageCache(settings.media_cache_mib * 2**20)

    async def load_all(self, urls: list[str]) -> list[LoadedImage]:
        downloads = asyncio.Semaphore(self._settings.media_fetches_per_request)
        return list(await asyncio.gather(*(self.load(url, downloads) for url in urls)))

    async def load(self, url: str, downloads: asyncio.Semaphore) -> LoadedImage:
        """downloads: the request's share of concurrent downloads."""
        source = url.split(":", 1)[0].lower() if ":" in url else ""
        source = source if source in ("data", "http", "https", "file") else "other"
        try:
            loaded = await self._load_cached(url, source, downloads)
        except Exception:
            metrics.IMAGES.labels(source=source, outcome="error").inc()
            raise
        metrics.IMAGES.labels(source=source, outcome="ok").inc()
        return loaded

    async def _load_cached(
        self, url: str, source: str, downloads: asyncio.Semaphore
    ) -> LoadedImage:
        loop = asyncio.get_running_loop()
        with metrics.IMAGE_FETCH_SECONDS.labels(source=source).time():
            media = await self._read(url, downloads)
        # Keyed by the bytes whatever brought them; hashing megabytes is blocking work, so it
        # runs in the pool like decoding. Draft decoding changes the pixels: its own variant.
        draft_edge = self._draft_edge
        variant = f":{draft_edge}" if draft_edge else ":exact"
        key = await loop.run_in_executor(self._pool, content_key, media.data) + variant
        if (cached := self._cache.get(key)) is not None:
            # The type declared this time must name the bytes, as on a miss.
            check_declared(cached.format, media.media_type)
            metrics.IMAGE_CACHE_HITS.inc()
            return LoadedImage(cached.image, key)
        with metrics.IMAGE_DECODE_SECONDS.time():
            decoded = await loop.run_in_executor(
                self._pool,
                decode_image,
                media.data,
                media.media_type,
                self._image_limits,
                draft_edge,
            )
        self._cache.put(key, decoded)
        return LoadedImage(decoded.image, key)

    async def _read(self, url: str, downloads: asyncio.Semaphore) -> Media:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
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
