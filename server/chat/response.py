"""vLLM outputs -> OpenAI chat.completion objects and chat.completion.chunk events (wire.py's
TypedDicts: plain dicts and one json.dumps per event, no per-token pydantic round-trips)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vllm.logprobs import Logprob
from vllm.outputs import CompletionOutput, RequestOutput

from server.chat.answer_start import AnswerStart
from server.chat.wire import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    CompletionUsage,
    Delta,
    PromptLogprobs,
    PromptTokensDetails,
    TokenLogprob,
    TopLogprob,
)
from server.tools.calls import ToolCallReader, delta_tool_calls, message_tool_calls
from server.tools.streaming import CallsEvent, StreamEvent, TextEvent, ToolCallStream


@dataclass(frozen=True)
class ResponseHeader:
    """What every object of one response shares."""

    id: str
    created: int
    model: str


def usage(
    prompt_tokens: int, completion_tokens: int, details: PromptTokensDetails | None = None
) -> CompletionUsage:
    counts: CompletionUsage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if details is not None:
        counts["prompt_tokens_details"] = details
    return counts


def prompt_tokens_details(image_tokens: int, output: RequestOutput | None) -> PromptTokensDetails:
    """How many prompt tokens are image tokens, and how many vLLM's prefix cache served."""
    cached = (output.num_cached_tokens or 0) if output is not None else 0
    return {"cached_tokens": cached, "image_tokens": image_tokens}


@dataclass(frozen=True)
class ChoiceOptions:
    """How a request wants its choices written, beyond text and logprobs."""

    tools: ToolCallReader | None = None
    return_token_ids: bool = False
    image_tokens: int = 0
    strip_leading_space: bool = False  # the model entry's wish (server/chat/answer_start.py)
    echoed: str = ""  # echo's text before each answer (server/chat/answer_start.py)

    def answer_start(self) -> AnswerStart:
        return AnswerStart(self.strip_leading_space, self.echoed)


def _message(
    completion: CompletionOutput, options: ChoiceOptions
) -> tuple[AssistantMessage, str | None]:
    text = options.answer_start().text(completion.index, completion.text)
    message: AssistantMessage = {"role": "assistant", "content": text}
    if options.tools is None:
        return message, completion.finish_reason
    read = options.tools.read(text, completion.finish_reason)
    message["content"] = read.content
    if read.calls:
        message["tool_calls"] = message_tool_calls(read.calls)
    return message, read.finish_reason


TokenBytesFn = Callable[[int], bytes]


@dataclass(frozen=True)
class LogprobsOptions:
    """A request's logprobs wish: how many alternatives, and how to spell tokens as bytes."""

    top: int
    token_bytes: TokenBytesFn


def _token_entry(token_id: int, logprob: Logprob, token_bytes: TokenBytesFn) -> TopLogprob:
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
) -> list[TokenLogprob]:
    """OpenAI's logprobs.content: the chosen token, and the `top` most likely ones, per position."""
    content = []
    for token_id, candidates in zip(token_ids, positions, strict=True):
        ranked = sorted(candidates.items(), key=lambda item: item[1].rank or 0)
        alternatives = [
            _token_entry(candidate_id, candidate, token_bytes)
            for candidate_id, candidate in ranked
            if (candidate.rank or 0) <= top
        ][:top]
        chosen = _token_entry(token_id, candidates[token_id], token_bytes)
        entry: TokenLogprob = {**chosen, "top_logprobs": alternatives}
        content.append(entry)
    return content


def _choice_logprobs(
    completion: CompletionOutput, options: LogprobsOptions | None
) -> ChoiceLogprobs | None:
    if options is None or completion.logprobs is None:
        return None
    content = logprobs_content(
        completion.token_ids, completion.logprobs, options.top, options.token_bytes
    )
    return {"content": content}


def _choice(
    completion: CompletionOutput, logprobs: LogprobsOptions | None, options: ChoiceOptions
) -> Choice:
    message, finish_reason = _message(completion, options)
    choice: Choice = {
        "index": completion.index,
        "message": message,
        "logprobs": _choice_logprobs(completion, logprobs),
        "finish_reason": finish_reason,
    }
    if options.return_token_ids:
        choice["token_ids"] = list(completion.token_ids)
    return choice


def completion_object(
    header: ResponseHeader,
    final: RequestOutput,
    logprobs: LogprobsOptions | None,
    options: ChoiceOptions = ChoiceOptions(),
) -> ChatCompletion:
    outputs = sorted(final.outputs, key=lambda item: item.index)
    choices = [_choice(completion, logprobs, options) for completion in outputs]
    completion_tokens = sum(len(completion.token_ids) for completion in final.outputs)
    details = prompt_tokens_details(options.image_tokens, final)
    body: ChatCompletion = {
        "id": header.id,
        "object": "chat.completion",
        "created": header.created,
        "model": header.model,
        "choices": choices,
        "usage": usage(len(final.prompt_token_ids or ()), completion_tokens, details),
    }
    if final.prompt_logprobs is not None:
        body["prompt_logprobs"] = prompt_logprobs_json(final.prompt_logprobs)
    if options.return_token_ids:
        body["prompt_token_ids"] = list(final.prompt_token_ids or ())
    return body


def prompt_logprobs_json(
    positions: Sequence[Mapping[int, Logprob] | None],
) -> PromptLogprobs:
    """vLLM's prompt_logprobs: per prompt token (the first has none), token id -> logprob."""
    return [
        None
        if candidates is None
        else {
            str(token_id): {
                "logprob": max(entry.logprob, -9999.0),
                "rank": entry.rank,
                "decoded_token": entry.decoded_token,
            }
            for token_id, entry in candidates.items()
        }
        for candidates in positions
    ]


def sse(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def chunk(
    header: ResponseHeader,
    choices: list[ChunkChoice],
    usage_counts: CompletionUsage | None = None,
) -> ChatCompletionChunk:
    payload: ChatCompletionChunk = {
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
    delta: Delta,
    finish_reason: str | None = None,
    logprobs: ChoiceLogprobs | None = None,
) -> ChunkChoice:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def role_choices(n: int) -> list[ChunkChoice]:
    return [delta_choice(index, {"role": "assistant", "content": ""}) for index in range(n)]


def first_chunk(
    header: ResponseHeader, output: RequestOutput, choices: int, options: ChoiceOptions
) -> ChatCompletionChunk:
    """The role of each choice; with return_token_ids, the prompt's token ids, as vLLM's."""
    payload = chunk(header, role_choices(choices))
    if options.return_token_ids:
        payload["prompt_token_ids"] = list(output.prompt_token_ids or ())
    return payload


def stream_choices(
    output: RequestOutput,
    logprobs: LogprobsOptions | None,
    start: AnswerStart | None = None,
    return_token_ids: bool = False,
) -> list[ChunkChoice]:
    """The choices of one DELTA output: new text (and logprobs, and with return_token_ids
    its tokens' ids), and finish reasons."""
    text = (start or AnswerStart(strip=False)).text
    choices = []
    for completion in output.outputs:
        if completion.text or completion.token_ids:
            content = _choice_logprobs(completion, logprobs)
            delta: Delta = {"content": text(completion.index, completion.text)}
            choice = delta_choice(completion.index, delta, None, content)
            if return_token_ids:
                choice["token_ids"] = list(completion.token_ids)
            choices.append(choice)
        if completion.finish_reason is not None:
            choices.append(delta_choice(completion.index, {}, completion.finish_reason))
    return choices


def tool_stream_choices(
    output: RequestOutput, streams: dict[int, ToolCallStream]
) -> list[ChunkChoice]:
    """The choices of one DELTA output when tools may be called (server/tools/streaming.py)."""
    choices: list[ChunkChoice] = []
    for completion in output.outputs:
        events = streams[completion.index].feed(completion.text, completion.finish_reason)
        for event in events:
            choices += _event_choice(completion.index, event)
    return choices


def _event_choice(index: int, event: StreamEvent) -> list[ChunkChoice]:
    if isinstance(event, TextEvent):
        return [delta_choice(index, {"content": event.text})]
    if isinstance(event, CallsEvent):
        return [
            delta_choice(index, {"tool_calls": delta}) for delta in delta_tool_calls(event.calls)
        ]
    return [delta_choice(index, {}, event.reason)]
