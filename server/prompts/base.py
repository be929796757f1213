"""What every prompt builder returns (Prompt) and the interface the chat service relies on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from transformers import PreTrainedTokenizerBase

from server.chat.schemas import ChatMessage
from server.prompts.ending import PromptEnding


@dataclass(frozen=True)
class Prompt:
    """Token ids with one placeholder id per image, and the images' URLs in prompt order."""

    token_ids: list[int]
    image_urls: list[str]
    tokens_per_image: int

    @property
    def engine_length(self) -> int:
        """Length once the engine expands each image placeholder into the image's tokens."""
        return len(self.token_ids) + len(self.image_urls) * (self.tokens_per_image - 1)


class PromptBuilder(Protocol):
    """Builds a model's prompts; refuses messages it cannot render with BadRequestError."""

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The tokenizer the prompt ids come from (responses spell tokens with it too)."""
        ...

    @property
    def image_token_id(self) -> int:
        """The id that stands for an image in the prompt (token-id prompts may not contain it)."""
        ...

    def build(
        self, messages: list[ChatMessage], ending: PromptEnding = PromptEnding.GENERATION_PROMPT
    ) -> Prompt: ...
