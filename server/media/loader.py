"""Loads the images of a request: fetches concurrently, decodes in a bounded thread pool."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
from PIL import Image

from server.errors import BadRequestError
from server.media.decode import decode_image
from server.media.fetch import MAX_REDIRECTS, decode_data_url, fetch_url
from server.settings import Settings


class MediaLoader:
    """Owns the HTTP client and the decode pool; one per server, closed at shutdown."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._client = httpx.AsyncClient(
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            timeout=httpx.Timeout(settings.media_fetch_timeout_s),
        )
        self._pool = ThreadPoolExecutor(
            max_workers=settings.media_decode_workers, thread_name_prefix="image-decode"
        )

    async def load_all(self, urls: list[str]) -> list[Image.Image]:
        return list(await asyncio.gather(*(self.load(url) for url in urls)))

    async def load(self, url: str) -> Image.Image:
        data = await self._read(url)
        loop = asyncio.get_running_loop()
        # Decoding is CPU-bound and blocking: never on the event loop.
        return await loop.run_in_executor(
            self._pool, decode_image, data, self._settings.media_max_image_pixels
        )

    async def _read(self, url: str) -> bytes:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return decode_data_url(url, self._settings.media_max_bytes)
        if scheme in ("http", "https"):
            return await fetch_url(
                self._client,
                url,
                self._settings.media_max_bytes,
                self._settings.media_fetch_timeout_s,
            )
        raise BadRequestError(
            f"Unsupported image URL scheme {scheme!r}: use data: or http(s).", param="image_url"
        )

    async def aclose(self) -> None:
        await self._client.aclose()
        self._pool.shutdown(wait=False, cancel_futures=True)
