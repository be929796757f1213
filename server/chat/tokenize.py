"""POST /tokenize, as vLLM's: the prompt a chat request (or a plain text) becomes, with each
image expanded to its tokens, so a client can budget before sending. No image is fetched: a
LLaVA model spends the same number of tokens on every image."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from server.chat.schemas import MAX_MESSAGES, MAX_NAME_CHARS, MAX_TEXT_CHARS, InputMessage
from server.prompts.ending import PromptEndingFields
from server.request_model import RequestModel
from server.tools.schemas import MAX_TOOLS, Tool


class TokenizeRequest(RequestModel, PromptEndingFields):
    model: str = Field(max_length=MAX_NAME_CHARS)
    messages: list[InputMessage] | None = Field(None, min_length=1, max_length=MAX_MESSAGES)
    prompt: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    tools: list[Tool] | None = Field(None, max_length=MAX_TOOLS)
    # vLLM's fields: how the chat prompt ends (PromptEndingFields, as chat takes them), the
    # text's special tokens.
    add_special_tokens: bool = True
    return_token_strs: bool = False

    @model_validator(mode="after")
    def _one_input(self) -> TokenizeRequest:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give either messages or prompt")
        return self


def expand_images(token_ids: list[int], image_token_id: int, tokens_per_image: int) -> list[int]:
    """The prompt as the engine sees it: each image slot repeated once per image token."""
    expanded: list[int] = []
    for token_id in token_ids:
        expanded += [token_id] * (tokens_per_image if token_id == image_token_id else 1)
    return expanded


def tokenize_response(
    token_ids: list[int], max_model_len: int, token_strs: list[str] | None
) -> dict[str, Any]:
    return {
        "count": len(token_ids),
        "max_model_len": max_model_len,
        "tokens": token_ids,
        "token_strs": token_strs,
    }
