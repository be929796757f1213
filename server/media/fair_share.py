"""Fair shares of image downloads: at most so many at once to one origin (scheme, host, port)
and per request, so a slow host or a client sending many slow URLs holds its own share only,
never every connection of the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx


def origin_of(url: str) -> str:
    """The origin a URL's download counts against; unparsable URLs fail later, when checked."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return ""
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or ''}"


class OriginSlots:
    """A semaphore per origin, made when first needed and dropped when no download holds or
    waits for it (the map cannot grow with the number of hosts ever named). Event loop only."""

    def __init__(self, per_origin: int):
        self._per_origin = per_origin
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def slot(self, origin: str) -> AsyncIterator[None]:
        semaphore = self._slots.setdefault(origin, asyncio.Semaphore(self._per_origin))
        self._users[origin] = self._users.get(origin, 0) + 1
        try:
            async with semaphore:
                yield
        finally:
            self._users[origin] -= 1
            if not self._users[origin]:
                del self._users[origin], self._slots[origin]

    def __len__(self) -> int:
        return len(self._slots)
