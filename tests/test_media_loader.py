"""The media loader in-process (no engine): data: URLs, the decoded-image cache's checks, the
pixel budgets and download fairness."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from server.errors import BadRequestError
from server.media.fetch import decode_data_url
from server.media.loader import MediaLoader
from server.settings import Settings
from tests.images import data_url, encode, scene

T = TypeVar("T")
TOWER = 30  # the tiny checkpoint's vision input side

PNG = encode(scene(40, 40, 3))
PAYLOAD = base64.b64encode(PNG).decode()


@pytest.mark.parametrize(
    "header", ["data:image/png;base64", "data:image/png;BASE64", "data:IMAGE/PNG;Base64"]
)
def test_data_url_tokens_are_case_insensitive(header: str) -> None:
    media = decode_data_url(f"{header},{PAYLOAD}", 1 << 20)
    assert media.data == PNG and media.media_type == "image/png"


@pytest.mark.parametrize("header", ["data:image/png", "data:image/png;charset=base64"])
def test_data_url_without_the_base64_token_is_refused(header: str) -> None:
    with pytest.raises(BadRequestError, match="Only base64"):
        decode_data_url(f"{header},{PAYLOAD}", 1 << 20)


def with_loader(scenario: Callable[[MediaLoader], Awaitable[T]], **settings: object) -> T:
    """Runs scenario(loader) on a loader that may fetch from loopback (the test's hosts)."""

    async def run() -> T:
        loader = MediaLoader(Settings(media_allowed_networks=["127.0.0.1/32"], **settings))
        try:
            return await scenario(loader)
        finally:
            await loader.aclose()

    return asyncio.run(run())


def test_a_cached_image_is_checked_against_each_declared_type(
    image_host: tuple[str, Path],
) -> None:
    """PNG bytes served as image/jpeg are refused, also after the same bytes were cached when
    served as image/png; the same for data: URLs."""
    url, folder = image_host
    (folder / "same.png").write_bytes(PNG)
    (folder / "same.jpg").write_bytes(PNG)  # served as image/jpeg

    async def scenario(loader: MediaLoader) -> None:
        for good, lying in (
            (f"{url}/same.png", f"{url}/same.jpg"),
            (data_url(PNG, "image/png"), data_url(PNG, "image/jpeg")),
        ):
            await loader.load_all([good], TOWER)
            with pytest.raises(BadRequestError, match="declared as image/jpeg"):
                await loader.load_all([lying], TOWER)

    with_loader(scenario)
