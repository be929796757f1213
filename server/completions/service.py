"""Completions: prompts -> one engine request per prompt (chat's machinery) -> text_completion.

Each prompt of a batch runs as its own engine request, as in vLLM's server; choice i*n+j is
prompt i's j-th completion."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from vllm.outputs import RequestOutput
from vllm.utils.async_utils import merge_async_iterators

from server.chat.response import SSE_DONE, ResponseHeader, sse, usage
from server.chat.service import ChatService, PreparedChat, build_engine_prompt
from server.chat.wire import PromptTokensDetails
from server.completions import response
from server.completions.prompts import TextPrompt, prompt_param, text_prompts
from server.completions.response import CompletionOptions, EchoedPrompt, choice, piece
from server.completions.sampling import generation_params, token_budget
from server.completions.schemas import CompletionRequest
from server.completions.stream import StreamedChoices
from server.errors import ModelNotFoundError, ServingError, serving_error_body
from server.prompts.truncation import kept_prompt_tokens

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedCompletion:
    header: ResponseHeader
    runs: list[PreparedChat]  # one engine request per prompt
    prompts: list[TextPrompt]
    options: CompletionOptions


class CompletionService:
    """Built per request over the server's ChatService: no state of its own."""

    def __init__(self, chat: ChatService):
        self._chat = chat

    async def prepare(self, request: CompletionRequest, request_id: str) -> PreparedCompletion:
        started = time.time()
        chat = self._chat
        if request.model != chat.served_model_name:
            raise ModelNotFoundError(request.model, [chat.served_model_name])
        keep_last = kept_prompt_tokens(request.truncate_prompt_tokens, chat.context_length)
        for index, text in enumerate(request.prompts):
            if isinstance(text, str) and keep_last is None:  # truncated text may be longer
                chat.refuse_chars_past_context(len(text), prompt_param(index, len(request.prompts)))
        prompts = await chat.in_prompt_worker(
            lambda builder: text_prompts(
                request.prompts, builder.tokenizer, builder.image_token_id, keep_last
            )
        )
        header = ResponseHeader(request_id, int(time.time()), chat.served_model_name)
        runs = []
        for run_id, prompt in zip(
            engine_request_ids(request_id, len(prompts)), prompts, strict=True
        ):
            budget = token_budget(request, chat.spec, len(prompt.token_ids), chat.context_length)
            params = generation_params(request, chat.spec, budget)
            run_header = ResponseHeader(run_id, header.created, header.model)
            engine_prompt = build_engine_prompt(prompt.token_ids, [], request.cache_salt)
            runs.append(PreparedChat(run_header, engine_prompt, params, None, False, 0, started))
        options = CompletionOptions(
            echo=bool(request.echo),
            echo_only=request.echo_only,
            logprobs=request.logprobs,
            n=request.choices_per_prompt,
            include_usage=request.include_usage,
            spell=chat.spelling(request.return_tokens_as_token_ids),
            return_token_ids=bool(request.return_token_ids),
        )
        return PreparedCompletion(header, runs, prompts, options)

    def _outputs(self, prepared: PreparedCompletion) -> AsyncIterator[tuple[int, RequestOutput]]:
        merged: AsyncIterator[tuple[int, RequestOutput]] = merge_async_iterators(
            *(self._chat.generate(run) for run in prepared.runs)
        )
        return merged

    async def complete(self, prepared: PreparedCompletion) -> dict[str, Any]:
        finals: dict[int, RequestOutput] = {}
        async for prompt_index, output in self._outputs(prepared):
            finals[prompt_index] = output
        if len(finals) != len(prepared.runs):
            raise ServingError("The engine returned no output.")
        options = prepared.options
        choices, prompt_tokens, completion_tokens = [], 0, 0
        for prompt_index, prompt in enumerate(prepared.prompts):
            final = finals[prompt_index]
            echoed = None
            if options.echo:
                echoed = EchoedPrompt(prompt.text, prompt.token_ids, final.prompt_logprobs)
            for completion in final.outputs:
                index = prompt_index * options.n + completion.index
                sent = piece(completion, echoed, options.echo_only)
                body, _ = choice(
                    index, sent, completion.finish_reason, options, 0, prompt.token_ids
                )
                choices.append(body)
                completion_tokens += 0 if options.echo_only else len(completion.token_ids)
            prompt_tokens += len(final.prompt_token_ids or ())
        cached = sum(final.num_cached_tokens or 0 for final in finals.values())
        counts = usage(prompt_tokens, completion_tokens, text_prompt_details(cached))
        return response.completion_object(prepared.header, choices, counts)

    async def stream(self, prepared: PreparedCompletion) -> AsyncIterator[bytes]:
        """SSE chunks; an error after the stream started becomes a last error event."""
        header = prepared.header
        state = StreamedChoices(prepared.prompts, prepared.options)
        try:
            async for prompt_index, output in self._outputs(prepared):
                for body in state.choices(prompt_index, output):
                    yield sse(response.chunk(header, [body]))
        except ServingError as error:
            logger.warning("stream %s failed: %s", header.id, error.message)
            yield sse(serving_error_body(error))
            yield SSE_DONE
            return
        if prepared.options.include_usage:
            details = text_prompt_details(sum(state.cached_tokens))
            counts = usage(sum(state.prompt_tokens), state.completion_tokens, details)
            yield sse(response.chunk(header, [], counts))
        yield SSE_DONE


def text_prompt_details(cached_tokens: int) -> PromptTokensDetails:
    """Completions prompts hold no images; the prefix cache may have served some tokens."""
    return {"cached_tokens": cached_tokens, "image_tokens": 0}


def engine_request_ids(request_id: str, prompts: int) -> list[str]:
    """The engine request of each prompt: `{id}-{index}`, which Engine.abort(id) also aborts."""
    return [f"{request_id}-{index}" for index in range(prompts)]
