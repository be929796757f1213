"""Image loading throughput of the media loader with 1 and 2 decode workers
(`python -m benchmarks.decode_workers`): random-mm noise JPEGs as data URLs, 8 requests in
flight, fast decode mode, runs interleaved 1-2-2-1 so a neighbour's load falls on both."""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import time

from benchmarks.stages import noise_jpeg
from server.media.loader import MediaLoader
from server.settings import Settings

TOWER = 32  # tiny-llava-hf's input side


async def images_per_second(urls: list[str], workers: int, concurrency: int) -> float:
    loader = MediaLoader(Settings(media_decode_workers=workers, media_cache_mib=0), TOWER)
    in_flight = asyncio.Semaphore(concurrency)

    async def one(url: str) -> None:
        async with in_flight:
            await loader.load_all([url])

    started = time.perf_counter()
    await asyncio.gather(*(one(url) for url in urls))
    elapsed = time.perf_counter() - started
    await loader.aclose()
    return len(urls) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="2048x1536")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="each a 1-2-2-1 sequence")
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    urls = [
        f"data:image/jpeg;base64,{base64.b64encode(noise_jpeg(width, height, seed)).decode()}"
        for seed in range(args.images)
    ]
    measured: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for workers in (1, 2, 2, 1):
            measured[workers].append(asyncio.run(images_per_second(urls, workers, 8)))
    one, two = (statistics.median(measured[w]) for w in (1, 2))
    print(f"{args.size}: 1 worker {one:.1f} images/s, 2 workers {two:.1f} ({two / one:.2f}x)")
    print(f"runs: {measured}")


if __name__ == "__main__":
    main()
