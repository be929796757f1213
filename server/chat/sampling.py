"""A chat request + the model's limits and defaults -> vLLM SamplingParams, range-checked."""

from __future__ import annotations

from typing import Any

from vllm import SamplingParams
from vllm.sampling_params import BeamSearchParams, RequestOutputKind, StructuredOutputsParams

from server.beam_search_fields import beam_search_params as shared_beam_search_params
from server.chat.schemas import ChatCompletionRequest
from server.errors import BadRequestError
from server.model_repo import ModelSpec
from server.prompts.base import Prompt
from server.vllm_sampling import sampling_extras


def completion_budget(
    request: ChatCompletionRequest, spec: ModelSpec, prompt: Prompt, context_length: int
) -> int:
    """max_tokens for the engine: the request's, or what the context and the cap leave."""
    prompt_length = prompt.engine_length
    room = context_length - prompt_length
    image_note = f", of which {len(prompt.image_urls) * prompt.tokens_per_image} image tokens"
    if room < 1:
        raise BadRequestError(
            f"The prompt is {prompt_length} tokens long{image_note}; this model's context is "
            f"{context_length} tokens.",
            param="messages",
            code="context_length_exceeded",
        )
    requested = request.requested_max_tokens
    if requested is None:
        return min(spec.limits.max_tokens, room)
    if requested > spec.limits.max_tokens:
        raise BadRequestError(
            f"max_tokens is {requested}; this server allows at most {spec.limits.max_tokens}.",
            param="max_tokens",
        )
    if requested > room:
        raise BadRequestError(
            f"This model's context is {context_length} tokens; the prompt takes {prompt_length}"
            f"{image_note}, and max_tokens asks for {requested} more.",
            param="max_tokens",
            code="context_length_exceeded",
        )
    return requested


def generation_params(
    request: ChatCompletionRequest,
    spec: ModelSpec,
    max_tokens: int,
    constraint: StructuredOutputsParams | None = None,
) -> SamplingParams | BeamSearchParams:
    """Beam search's parameters when the request asks for it, else sampling's."""
    if request.use_beam_search:
        return beam_search_params(request, spec, max_tokens)
    return sampling_params(request, spec, max_tokens, constraint)


def beam_search_params(
    request: ChatCompletionRequest, spec: ModelSpec, max_tokens: int
) -> BeamSearchParams:
    """`n` beams, as vLLM's server takes them; the schema refused what the search ignores."""
    _check_n(request, spec)
    temperature = _temperature(request, spec)
    return shared_beam_search_params(
        request, request.length_penalty, request.n, max_tokens, temperature
    )


def sampling_params(
    request: ChatCompletionRequest,
    spec: ModelSpec,
    max_tokens: int,
    constraint: StructuredOutputsParams | None = None,
) -> SamplingParams:
    _check_n(request, spec)
    defaults = spec.sampling
    top_k = request.top_k if request.top_k is not None else defaults.top_k
    return SamplingParams(
        n=request.n,
        temperature=_temperature(request, spec),
        top_p=defaults.top_p if request.top_p is None else request.top_p,
        top_k=top_k if top_k is not None and top_k > 0 else 0,
        seed=request.seed,
        stop=request.stop_sequences,
        presence_penalty=request.presence_penalty,
        frequency_penalty=request.frequency_penalty,
        max_tokens=max_tokens,
        logprobs=(request.top_logprobs or 0) if request.logprobs else None,
        # Streams want each new piece once; a full response wants only the final state.
        output_kind=RequestOutputKind.DELTA if request.stream else RequestOutputKind.FINAL_ONLY,
        structured_outputs=constraint,
        **_vllm_extras(request, max_tokens),
    )


def _check_n(request: ChatCompletionRequest, spec: ModelSpec) -> None:
    if request.n > spec.limits.max_n:
        raise BadRequestError(
            f"n is {request.n}; at most {spec.limits.max_n} is allowed.", param="n"
        )


def _temperature(request: ChatCompletionRequest, spec: ModelSpec) -> float:
    return spec.sampling.temperature if request.temperature is None else request.temperature


def _vllm_extras(request: ChatCompletionRequest, max_tokens: int) -> dict[str, Any]:
    """The shared fields (server/vllm_sampling.py) and chat's prompt_logprobs."""
    extras = sampling_extras(request, max_tokens)
    if request.prompt_logprobs is not None:
        extras["prompt_logprobs"] = request.prompt_logprobs
    return extras
