"""vLLM's own `random-mm` dataset (`vllm bench serve --dataset-name random-mm`), as most people
benchmark multi-modal serving: random-token prompts and one JPEG of random noise per request
(a data URL), one workload per image size. Every run samples with a seed of its own, so no run
finds its images in either server's caches."""

from __future__ import annotations

import functools

from vllm.benchmarks.datasets import RandomMultiModalDataset, SampleRequest
from vllm.tokenizers import TokenizerLike

from benchmarks.workloads import OUTPUT_TOKENS, Workload

INPUT_TOKENS = 32
# (width, height): the benchmark's sizes, from a thumbnail to a 12-megapixel phone photo.
SIZES = ((64, 64), (512, 512), (1024, 768), (2048, 1536), (4032, 3024))
FIRST_SEED = 1000  # away from vLLM's default seed 0, which a warm-up elsewhere may have sent


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'2048x1536,64x64' -> [(2048, 1536), (64, 64)]."""
    sizes = []
    for item in text.split(","):
        width, _, height = item.strip().partition("x")
        sizes.append((int(width), int(height)))
    return sizes


def random_mm_requests(
    tokenizer: TokenizerLike, count: int, size: tuple[int, int], seed: int
) -> list[SampleRequest]:
    width, height = size
    dataset = RandomMultiModalDataset(random_seed=seed)
    requests: list[SampleRequest] = dataset.sample(
        tokenizer=tokenizer,
        num_requests=count,
        input_len=INPUT_TOKENS,
        output_len=OUTPUT_TOKENS,
        range_ratio=0.0,
        base_items_per_request=1,
        num_mm_items_range_ratio=0.0,
        limit_mm_per_prompt={"image": 1},
        bucket_config={(height, width, 1): 1.0},  # vLLM's buckets are (height, width, frames)
    )
    return requests


def _renewed(
    tokenizer: TokenizerLike, count: int, size: tuple[int, int], run: int
) -> tuple[list[SampleRequest], dict[str, bytes]]:
    return random_mm_requests(tokenizer, count, size, FIRST_SEED + run), {}


def random_mm_workloads(
    tokenizer: TokenizerLike,
    count: int,
    sizes: list[tuple[int, int]],
    concurrencies: list[int],
) -> list[Workload]:
    workloads = []
    for width, height in sizes:
        workloads.append(
            Workload(
                f"random-mm-{width}x{height}",
                f"vLLM's random-mm: one {width}x{height} noise JPEG (data URL), "
                f"{INPUT_TOKENS} random tokens in, {OUTPUT_TOKENS} out",
                [],  # each run's own: renew
                concurrencies,
                renew=functools.partial(_renewed, tokenizer, count, (width, height)),
            )
        )
    return workloads
