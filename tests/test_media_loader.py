"""The media loader in-process (no engine): data: URLs, the decoded-image cache's checks, the
pixel budgets and download fairness."""

from __future__ import annotations

import asyncio
import base64
import http.server
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from server.errors import BadRequestError, OverloadedError, PayloadTooLargeError
from server.media.fetch import decode_data_url
from server.media.loader import MediaLoader
from server.media.memory import return_large_blocks_to_the_system
from server.media.pixel_budget import PixelBudget
from server.settings import Settings
from tests.images import data_url, encode, scene
from tests.support.http_host import http_host

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


def with_loader(scenario: Callable[[MediaLoader], Awaitable[T]], **settings: Any) -> T:
    """Runs scenario(loader) on a loader that may fetch from loopback (the test's hosts)."""

    async def run() -> T:
        loader = MediaLoader(Settings(media_allowed_networks=["127.0.0.1/32"], **settings), TOWER)
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
            await loader.load_all([good])
            with pytest.raises(BadRequestError, match="declared as image/jpeg"):
                await loader.load_all([lying])

    with_loader(scenario)


class HeldImageHandler(http.server.BaseHTTPRequestHandler):
    """Sends an image's headers, then holds the body until the test opens the gate: a slow
    host holding its connections for as long as the test needs, with no timing involved."""

    gate = threading.Event()
    arrived = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.flush()
        with HeldImageHandler.lock:
            HeldImageHandler.arrived += 1
        HeldImageHandler.gate.wait()
        self.wfile.write(PNG)


@pytest.fixture
def held_host() -> Iterator[str]:
    HeldImageHandler.gate.clear()
    HeldImageHandler.arrived = 0
    with http_host(HeldImageHandler) as url:
        try:
            yield url
        finally:
            HeldImageHandler.gate.set()


def test_a_slow_host_does_not_hold_up_an_unrelated_download(
    image_host: tuple[str, Path], held_host: str
) -> None:
    """9 requests x 4 URLs on a host that holds every answer (36 downloads, more than a shared
    pool of 32 connections): a request for another host's image is answered while they all
    still wait. Only then are the held answers released, and they complete too."""
    url, folder = image_host
    (folder / "fast.png").write_bytes(PNG)

    async def scenario(loader: MediaLoader) -> tuple[list[bool], list[object]]:
        held = [
            asyncio.create_task(loader.load_all([f"{held_host}/r{r}-{i}.png" for i in range(4)]))
            for r in range(9)
        ]
        while HeldImageHandler.arrived < 8:  # the slow host holds its share of connections
            await asyncio.sleep(0.01)
        (fast,) = await loader.load_all([f"{url}/fast.png"])
        assert fast.image.size == (40, 40)
        done_before_fast = [task.done() for task in held]
        HeldImageHandler.gate.set()
        return done_before_fast, await asyncio.gather(*held, return_exceptions=True)

    done_before_fast, held = with_loader(scenario)
    assert not any(done_before_fast)
    assert all(isinstance(images, list) and len(images) == 4 for images in held), held


def test_a_requests_decoded_pixels_are_bounded_before_decoding() -> None:
    """Two 80x80 images decode to 12,800 pixels: over a 10,000-pixel bound, the request is
    refused (413) from their headers; one of them alone is decoded."""
    first, second = (data_url(encode(scene(80, 80, seed))) for seed in (1, 2))

    async def scenario(loader: MediaLoader) -> None:
        with pytest.raises(PayloadTooLargeError, match="12800 pixels"):
            await loader.load_all([first, second])
        (image,) = await loader.load_all([first])
        assert image.image.size == (80, 80)

    with_loader(scenario, media_max_request_pixels=10_000)


def test_pixels_being_decoded_across_requests_are_bounded() -> None:
    budget = PixelBudget(10_000, retry_after_s=1)
    with budget.hold(6_000):
        with pytest.raises(OverloadedError) as refusal, budget.hold(6_000):
            pass
        assert refusal.value.status_code == 429 and refusal.value.retry_after_s == 1
        with budget.hold(4_000):
            assert budget.free == 0
    assert budget.free == 10_000


def test_only_images_near_the_towers_size_are_cached() -> None:
    """A repeated small image is the cached object; a large one (here over a 5,000-pixel
    bound) is decoded again, so the cache never holds full-size giants."""
    small, large = data_url(encode(scene(60, 60, 1))), data_url(encode(scene(100, 100, 2)))

    async def scenario(loader: MediaLoader) -> None:
        for url, cached in ((small, True), (large, False)):
            (first,) = await loader.load_all([url])
            (again,) = await loader.load_all([url])
            assert (first.image is again.image) is cached, url[:40]

    with_loader(scenario, media_cache_max_image_pixels=5_000)


def test_large_freed_blocks_go_back_to_the_system() -> None:
    assert return_large_blocks_to_the_system()  # glibc (the images' and CI's C library)
