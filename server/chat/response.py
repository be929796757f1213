"""vLLM outputs -> OpenAI chat.completion objects and chat.completion.chunk events, as plain dicts.

Plain dicts and one json.dumps per event: no per-token pydantic round-trips on the hot path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vllm.logprobs import Logprob
from vllm.outputs import CompletionOutput, RequestOutput

from server.chat.answer_start import AnswerStart


@dataclass(frozen=True)
class ResponseHeader:
    """What every object of one response shares."""

    id: str
    created: int
    model: str


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


TokenBytesFn = Callable[[int], bytes]


@dataclass(frozen=True)
class LogprobsOptions:
    """A request's logprobs wish: how many alternatives, and how to spell tokens as bytes."""

    top: int
    token_bytes: TokenBytesFn


def _token_entry(token_id: int, logprob: Logprob, token_bytes: TokenBytesFn) -> dict[str, Any]:
    raw = token_bytes(token_id)
    return {
        "token": raw.decode("utf-8", errors="replace"),
        "logprob": max(logprob.logprob, -9999.0),  # -inf is not valid JSON
        "bytes": list(raw),
    }


def logprobs_content(
    token_ids: Sequence[int],
    positions: Sequence[Mapping[int, Logprob]],
    top: int,
    token_bytes: TokenBytesFn,
) -> list[dict[str, Any]]:
    """OpenAI's logprobs.content: the chosen token, and the `top` most likely ones, per position."""
    content = []
    for token_id, candidates in zip(token_ids, positions, strict=True):
        entry = _token_entry(token_id, candidates[token_id], token_bytes)
        ranked = sorted(candidates.items(), key=lambda item: item[1].rank or 0)
        entry["top_logprobs"] = [
            _token_entry(candidate_id, candidate, token_bytes)
            for candidate_id, candidate in ranked
            if (candidate.rank or 0) <= top
        ][:top]
        content.append(entry)
    return content


def _choice_logprobs(
    completion: CompletionOutput, options: LogprobsOptions | None
) -> dict[str, Any] | None:
    if options is None or completion.logprobs is None:
        return None
    content = logprobs_content(
        completion.token_ids, completion.logprobs, options.top, options.token_bytes
    )
    return {"content": content}


def completion_object(
    header: ResponseHeader,
    final: RequestOutput,
    logprobs: LogprobsOptions | None,
    start: AnswerStart | None = None,
) -> dict[str, Any]:
    text = (start or AnswerStart(strip=False)).text
    choices = [
        {
            "index": completion.index,
            "message": {"role": "assistant", "content": text(completion.index, completion.text)},
            "logprobs": _choice_logprobs(completion, logprobs),
            "finish_reason": completion.finish_reason,
        }
        for completion in sorted(final.outputs, key=lambda item: item.index)
    ]
    completion_tokens = sum(len(completion.token_ids) for completion in final.outputs)
    return {
        "id": header.id,
        "object": "chat.completion",
        "created": header.created,
        "model": header.model,
        "choices": choices,
        "usage": usage(len(final.prompt_token_ids or ()), completion_tokens),
    }


def sse(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def chunk(
    header: ResponseHeader,
    choices: list[dict[str, Any]],
    usage_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": header.id,
        "object": "chat.completion.chunk",
        "created": header.created,
        "model": header.model,
        "choices": choices,
    }
    if usage_counts is not None:
        payload["usage"] = usage_counts
    return payload


def delta_choice(
    index: int,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    logprobs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def role_choices(n: int) -> list[dict[str, Any]]:
    return [delta_choice(index, {"role": "assistant", "content": ""}) for index in range(n)]


def stream_choices(
    output: RequestOutput, logprobs: LogprobsOptions | None, start: AnswerStart | None = None
) -> list[dict[str, Any]]:
    """The choices of one DELTA output: new text (and logprobs), and finish reasons."""
    text = (start or AnswerStart(strip=False)).text
    choices = []
    for completion in output.outputs:
        if completion.text or completion.token_ids:
            content = _choice_logprobs(completion, logprobs)
            delta = {"content": text(completion.index, completion.text)}
            choices.append(delta_choice(completion.index, delta, None, content))
        if completion.finish_reason is not None:
            choices.append(delta_choice(completion.index, {}, completion.finish_reason))
    return choices
