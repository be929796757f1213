"""vLLM's truncate_prompt_tokens, for chat and completions: only a prompt's last tokens are
used (-1: as many as the context holds)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, field_validator

from server.errors import BadRequestError
from server.request_model import Int

if TYPE_CHECKING:  # the request schemas import this module, and prompts.base imports them
    from server.prompts.base import Prompt

MAX_TRUNCATE_PROMPT_TOKENS = 1_000_000


class PromptTruncationFields(BaseModel):
    """vLLM's field, mixed into the request schemas that take it (the schema sets the model
    config)."""

    truncate_prompt_tokens: Int | None = Field(None, ge=-1, le=MAX_TRUNCATE_PROMPT_TOKENS)

    @field_validator("truncate_prompt_tokens")
    @classmethod
    def _not_zero(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError("truncate_prompt_tokens must be -1 (the context) or at least 1")
        return value


def kept_prompt_tokens(truncate_prompt_tokens: int | None, context_length: int) -> int | None:
    """How many of a prompt's last tokens are kept (None: all)."""
    if truncate_prompt_tokens is None:
        return None
    if truncate_prompt_tokens == -1:
        return context_length
    if truncate_prompt_tokens > context_length:
        raise BadRequestError(
            f"truncate_prompt_tokens is {truncate_prompt_tokens}; this model's context is "
            f"{context_length} tokens.",
            param="truncate_prompt_tokens",
        )
    return truncate_prompt_tokens


def last_tokens_of(prompt: Prompt, keep_last: int | None, image_token_id: int) -> Prompt:
    """A chat prompt cut to its last keep_last tokens as the engine sees them (each image
    expanded into its tokens). An image is never cut, as in vLLM: a cut that would split or
    drop one is refused, so only text before the first image can go."""
    if keep_last is None or prompt.engine_length <= keep_last:
        return prompt
    dropped = prompt.engine_length - keep_last
    # Text before the first image is one engine token per id.
    first_image = (
        prompt.token_ids.index(image_token_id) if prompt.image_urls else len(prompt.token_ids)
    )
    if dropped > first_image:
        raise BadRequestError(
            f"truncate_prompt_tokens is {keep_last}: it would cut the prompt's first image, "
            f"which starts at token {first_image} of {prompt.engine_length} (images are never "
            f"cut). Keep at least {prompt.engine_length - first_image} tokens, or send fewer "
            "or shorter messages.",
            param="truncate_prompt_tokens",
        )
    return replace(prompt, token_ids=prompt.token_ids[dropped:])
