"""vLLM outputs -> OpenAI text_completion objects and stream chunks, as plain dicts.

With echo, a choice's first piece starts with its prompt (text, token ids and, with logprobs,
the prompt's logprobs); with echo and max_tokens 0 the prompt is all there is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vllm.outputs import CompletionOutput

from server.chat.response import ResponseHeader, TokenBytesFn
from server.chat.wire import CompletionUsage
from server.completions.logprobs import Position, legacy_logprobs, next_offset

OBJECT = "text_completion"


@dataclass(frozen=True)
class CompletionOptions:
    echo: bool
    echo_only: bool
    logprobs: int | None  # None: no logprobs; else how many alternatives per position
    n: int
    include_usage: bool
    spell: TokenBytesFn
    return_token_ids: bool = False


@dataclass(frozen=True)
class EchoedPrompt:
    text: str
    token_ids: Sequence[int]
    positions: Sequence[Position] | None  # the prompt's logprobs, when asked for


@dataclass(frozen=True)
class Piece:
    text: str
    token_ids: list[int]  # what the text spells: with echo, the prompt's first
    positions: list[Position] | None
    generated_ids: list[int]  # the tokens generated (vLLM's return_token_ids sends these)


def piece(completion: CompletionOutput, echoed: EchoedPrompt | None, echo_only: bool) -> Piece:
    """The text, tokens and logprobs one choice sends now (the prompt first, if echoed now)."""
    generated = completion.logprobs
    text, token_ids = completion.text, list(completion.token_ids)
    positions: list[Position] | None = None if generated is None else list(generated)
    if echo_only:  # the one token generated for the prompt's logprobs is not returned
        text, token_ids, positions = "", [], None if positions is None else []
    if echoed is None:
        return Piece(text, token_ids, positions, token_ids)
    if positions is not None:
        positions = [*(echoed.positions or [None] * len(echoed.token_ids)), *positions]
    return Piece(echoed.text + text, [*echoed.token_ids, *token_ids], positions, token_ids)


def choice(
    index: int,
    sent: Piece,
    finish_reason: str | None,
    options: CompletionOptions,
    first_offset: int = 0,
    prompt_token_ids: Sequence[int] | None = None,
) -> tuple[dict[str, Any], int]:
    """(the choice, where the next piece's text offsets start). With return_token_ids, the
    choice carries the tokens generated and, when given, the prompt's (as vLLM's server)."""
    logprobs = None
    offset = first_offset
    if options.logprobs is not None and sent.positions is not None:
        built = legacy_logprobs(
            sent.token_ids, sent.positions, options.logprobs, options.spell, first_offset
        )
        logprobs, offset = built.as_dict(), next_offset(built, first_offset)
    body = {"index": index, "text": sent.text, "logprobs": logprobs, "finish_reason": finish_reason}
    if options.return_token_ids:
        if prompt_token_ids is not None:
            body["prompt_token_ids"] = list(prompt_token_ids)
        body["token_ids"] = sent.generated_ids
    return body, offset


def completion_object(
    header: ResponseHeader, choices: list[dict[str, Any]], usage_counts: CompletionUsage
) -> dict[str, Any]:
    return {
        "id": header.id,
        "object": OBJECT,
        "created": header.created,
        "model": header.model,
        "choices": sorted(choices, key=lambda item: item["index"]),
        "usage": usage_counts,
    }


def chunk(
    header: ResponseHeader,
    choices: list[dict[str, Any]],
    usage_counts: CompletionUsage | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": header.id,
        "object": OBJECT,
        "created": header.created,
        "model": header.model,
        "choices": choices,
    }
    if usage_counts is not None:
        payload["usage"] = usage_counts
    return payload
