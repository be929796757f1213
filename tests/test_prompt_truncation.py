"""vLLM's truncate_prompt_tokens (chat and completions), without an engine: how many tokens
are kept, and a chat prompt cut from the left, never through an image."""

from __future__ import annotations

import pytest

from server.errors import BadRequestError
from server.prompts.base import Prompt
from server.prompts.truncation import kept_prompt_tokens, last_tokens_of

IMAGE = 99  # the placeholder id; each image is 4 tokens once the engine expands it


@pytest.mark.parametrize(("asked", "kept"), [(None, None), (-1, 512), (1, 1), (512, 512)])
def test_truncate_prompt_tokens_keeps_the_last_tokens(asked: int | None, kept: int | None) -> None:
    assert kept_prompt_tokens(asked, context_length=512) == kept


def test_truncating_past_the_context_is_refused_by_name() -> None:
    with pytest.raises(BadRequestError, match="context is 512 tokens") as refusal:
        kept_prompt_tokens(513, context_length=512)
    assert refusal.value.param == "truncate_prompt_tokens"


def prompt(token_ids: list[int]) -> Prompt:
    images = token_ids.count(IMAGE)
    return Prompt(token_ids, [f"http://x/{index}" for index in range(images)], 4)


@pytest.mark.parametrize(
    ("keep", "kept"),
    [
        (None, [1, 2, 3, IMAGE, 5]),
        (100, [1, 2, 3, IMAGE, 5]),  # shorter than asked: whole
        (8, [1, 2, 3, IMAGE, 5]),  # 3 + 4 + 1 engine tokens: exactly
        (6, [3, IMAGE, 5]),  # two text tokens go
        (5, [IMAGE, 5]),  # the image and what follows it
    ],
)
def test_a_chat_prompt_loses_text_from_the_left(keep: int | None, kept: list[int]) -> None:
    cut = last_tokens_of(prompt([1, 2, 3, IMAGE, 5]), keep, IMAGE)
    assert cut.token_ids == kept and len(cut.image_urls) == 1


@pytest.mark.parametrize("keep", [4, 1])
def test_a_cut_through_an_image_is_refused(keep: int) -> None:
    with pytest.raises(BadRequestError, match="would cut the prompt's first image") as refusal:
        last_tokens_of(prompt([1, 2, 3, IMAGE, 5]), keep, IMAGE)
    assert refusal.value.param == "truncate_prompt_tokens"
    assert "Keep at least 5 tokens" in refusal.value.message


def test_a_prompt_without_images_keeps_its_last_tokens() -> None:
    assert last_tokens_of(prompt([1, 2, 3, 4]), 2, IMAGE).token_ids == [3, 4]
