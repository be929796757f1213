"""A cheap refusal before any tokenizing: no vocabulary entry covers more than a known number of
characters, so a text longer than the context times that number cannot fit, whatever it says.
Tokenizing a 30 MB text costs a minute of CPU and gigabytes; this check costs a sum of lengths."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from server.chat.schemas import ChatMessage, TextPart
from server.errors import BadRequestError

# A tokenizer's normalizer may shorten text before splitting it (NFC joins a letter and its
# combining accent into one character): the bound is kept this many times looser, so it never
# refuses a prompt that would fit. What passes is then tokenized for the exact count.
SAFETY_FACTOR = 2


def max_text_chars(tokenizer: PreTrainedTokenizerBase, context_length: int) -> int:
    """Characters of client text that could still fit in the context (an upper bound)."""
    longest_token = max(len(token) for token in tokenizer.get_vocab())
    return SAFETY_FACTOR * longest_token * context_length


def refuse_text_past_context(
    messages: list[ChatMessage], max_chars: int, context_length: int
) -> None:
    chars = sum(len(text) for message in messages for text in _texts(message))
    refuse_chars_past_context(chars, max_chars, context_length, "messages")


def refuse_chars_past_context(chars: int, max_chars: int, context_length: int, param: str) -> None:
    if chars > max_chars:
        raise BadRequestError(
            f"`{param}` holds {chars} characters of text: more than this model's context of "
            f"{context_length} tokens can take (at most {max_chars} characters could fit).",
            param=param,
            code="context_length_exceeded",
        )


def _texts(message: ChatMessage) -> list[str]:
    if isinstance(message.content, str):
        return [message.content]
    return [part.text for part in message.content if isinstance(part, TextPart)]
