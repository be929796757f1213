"""vLLM logprobs -> the completions API's `logprobs` object: tokens, token_logprobs,
top_logprobs (token -> logprob) and text_offset, as evaluation harnesses read them.

Positions without a logprob (the prompt's first token, which nothing predicts) are null, as in
OpenAI's answers. Each position's top_logprobs holds the chosen token and the `top` most likely
ones (OpenAI: "the most likely tokens, as well as the chosen token")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vllm.logprobs import Logprob

from server.chat.response import TokenBytesFn

# -inf is not valid JSON; OpenAI and vLLM send this floor instead.
LOGPROB_FLOOR = -9999.0

Position = Mapping[int, Logprob] | None


@dataclass
class LegacyLogprobs:
    """The logprobs of one choice, grown piece by piece (a stream sends each piece's own)."""

    tokens: list[str] = field(default_factory=list)
    token_logprobs: list[float | None] = field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = field(default_factory=list)
    text_offset: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "token_logprobs": self.token_logprobs,
            "top_logprobs": self.top_logprobs,
            "text_offset": self.text_offset,
        }


def _floor(value: float) -> float:
    return max(value, LOGPROB_FLOOR)


def _top(
    position: Mapping[int, Logprob], chosen: int, top: int, spell: TokenBytesFn
) -> dict[str, float]:
    ranked = sorted(position.items(), key=lambda item: item[1].rank or 0)
    entries = {spell(chosen).decode("utf-8", errors="replace"): _floor(position[chosen].logprob)}
    for token_id, candidate in ranked:
        if (candidate.rank or 0) <= top:
            text = spell(token_id).decode("utf-8", errors="replace")
            entries.setdefault(text, _floor(candidate.logprob))
    return entries


def legacy_logprobs(
    token_ids: Sequence[int],
    positions: Sequence[Position],
    top: int,
    spell: TokenBytesFn,
    first_offset: int = 0,
) -> LegacyLogprobs:
    """One entry per token; text offsets count characters from `first_offset`."""
    result = LegacyLogprobs()
    offset = first_offset
    for token_id, position in zip(token_ids, positions, strict=True):
        token = spell(token_id).decode("utf-8", errors="replace")
        result.tokens.append(token)
        result.text_offset.append(offset)
        offset += len(token)
        if position is None:
            result.token_logprobs.append(None)
            result.top_logprobs.append(None)
            continue
        result.token_logprobs.append(_floor(position[token_id].logprob))
        result.top_logprobs.append(_top(position, token_id, top, spell))
    return result


def next_offset(logprobs: LegacyLogprobs, first_offset: int) -> int:
    """Where the next piece's text offsets start."""
    if not logprobs.tokens:
        return first_offset
    return logprobs.text_offset[-1] + len(logprobs.tokens[-1])
