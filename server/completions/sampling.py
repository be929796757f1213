"""A completions request + the model's limits and defaults -> vLLM SamplingParams (or
BeamSearchParams) per prompt."""

from __future__ import annotations

from vllm import SamplingParams
from vllm.sampling_params import BeamSearchParams, RequestOutputKind

from server.beam_search_fields import beam_search_params
from server.completions.schemas import DEFAULT_MAX_TOKENS, CompletionRequest
from server.errors import BadRequestError
from server.model_repo import ModelSpec
from server.vllm_sampling import sampling_extras


def token_budget(
    request: CompletionRequest, spec: ModelSpec, prompt_length: int, context_length: int
) -> int:
    """max_tokens for the engine. Unset, OpenAI's default of 16, shortened to what the context
    leaves; set, refused if the context or the server's cap cannot hold it. echo with
    max_tokens 0 generates one token, which is not returned."""
    room = context_length - prompt_length
    if room < 1:
        raise BadRequestError(
            f"The prompt is {prompt_length} tokens long; this model's context is "
            f"{context_length} tokens.",
            param="prompt",
            code="context_length_exceeded",
        )
    if request.echo_only:
        return 1
    if request.max_tokens is None:
        return min(DEFAULT_MAX_TOKENS, spec.limits.max_tokens, room)
    if request.max_tokens > spec.limits.max_tokens:
        raise BadRequestError(
            f"max_tokens is {request.max_tokens}; this server allows at most "
            f"{spec.limits.max_tokens}.",
            param="max_tokens",
        )
    if request.max_tokens > room:
        raise BadRequestError(
            f"This model's context is {context_length} tokens; the prompt takes "
            f"{prompt_length}, and max_tokens asks for {request.max_tokens} more.",
            param="max_tokens",
            code="context_length_exceeded",
        )
    return request.max_tokens


def generation_params(
    request: CompletionRequest, spec: ModelSpec, max_tokens: int
) -> SamplingParams | BeamSearchParams:
    """Beam search's parameters when the request asks for it, else sampling's."""
    n = request.choices_per_prompt
    if n > spec.limits.max_n:
        raise BadRequestError(f"n is {n}; at most {spec.limits.max_n} is allowed.", param="n")
    temperature = spec.sampling.temperature if request.temperature is None else request.temperature
    if request.use_beam_search:
        return beam_search_params(request, request.length_penalty, n, max_tokens, temperature)
    return sampling_params(request, spec, max_tokens, temperature)


def sampling_params(
    request: CompletionRequest, spec: ModelSpec, max_tokens: int, temperature: float
) -> SamplingParams:
    defaults = spec.sampling
    top_k = request.top_k if request.top_k is not None else defaults.top_k
    return SamplingParams(
        n=request.choices_per_prompt,
        temperature=temperature,
        top_p=defaults.top_p if request.top_p is None else request.top_p,
        top_k=top_k if top_k is not None and top_k > 0 else 0,
        seed=request.seed,
        stop=request.stop_sequences,
        presence_penalty=request.presence_penalty or 0.0,
        frequency_penalty=request.frequency_penalty or 0.0,
        max_tokens=max_tokens,
        logprobs=request.logprobs,
        # echo with logprobs returns the prompt's too: vLLM computes them in the prefill.
        prompt_logprobs=request.logprobs if request.echo else None,
        output_kind=RequestOutputKind.DELTA if request.stream else RequestOutputKind.FINAL_ONLY,
        **sampling_extras(request, max_tokens),
    )
