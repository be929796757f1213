"""Chat completions: request -> prompt, images, sampling -> engine -> response or stream."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from vllm import SamplingParams
from vllm.outputs import RequestOutput

from server import metrics
from server.chat import response
from server.chat.prompt import PromptBuilder
from server.chat.prompt_workers import PromptWorkers
from server.chat.sampling import completion_budget, sampling_params
from server.chat.schemas import ChatCompletionRequest
from server.chat.text_budget import max_text_chars, refuse_text_past_context
from server.chat.token_bytes import TokenBytes
from server.engine import Engine
from server.errors import (
    BadRequestError,
    ModelNotFoundError,
    NotReadyError,
    ServingError,
    serving_error_body,
)
from server.media.loader import MediaLoader
from server.model_repo import ModelSpec

logger = logging.getLogger(__name__)

# Threads that render and tokenize prompts (off the event loop): a few, so one long prompt does
# not hold up the others.
PROMPT_WORKERS = 4


@dataclass(frozen=True)
class PreparedChat:
    """Everything the engine needs, checked; built before any response byte is sent."""

    header: response.ResponseHeader
    engine_prompt: dict[str, Any]
    params: SamplingParams
    logprobs: response.LogprobsOptions | None
    include_usage: bool
    image_tokens: int = 0
    started: float = 0.0  # wall-clock (time.time()), as vLLM's arrival_time, for TTFT


class ChatService:
    def __init__(
        self,
        engine: Engine,
        prompts: PromptBuilder,
        media: MediaLoader,
        spec: ModelSpec,
        served_model_name: str,
        draft_edge: int | None = None,
    ):
        self._engine = engine
        self._token_bytes = TokenBytes(prompts.tokenizer)
        self._media = media
        self._spec = spec
        self.served_model_name = served_model_name
        self._draft_edge = draft_edge
        self._max_text_chars = max_text_chars(prompts.tokenizer, engine.max_model_len)
        self._prompt_workers = PromptWorkers(prompts, PROMPT_WORKERS)

    async def prepare(self, request: ChatCompletionRequest, request_id: str) -> PreparedChat:
        started = time.time()
        if request.model != self.served_model_name:
            raise ModelNotFoundError(request.model, [self.served_model_name])
        refuse_text_past_context(request.messages, self._max_text_chars, self._engine.max_model_len)
        prompt = await self._prompt_workers.build(request.messages)
        max_images = self._spec.engine.max_images
        if len(prompt.image_urls) > max_images:
            raise BadRequestError(
                f"The request has {len(prompt.image_urls)} images; this model takes at most "
                f"{max_images} per request.",
                param="messages",
            )
        max_tokens = completion_budget(request, self._spec, prompt, self._engine.max_model_len)
        params = sampling_params(request, self._spec, max_tokens)
        images = await self._media.load_all(prompt.image_urls, self._draft_edge)
        engine_prompt: dict[str, Any] = {"prompt_token_ids": prompt.token_ids}
        if images:
            engine_prompt["multi_modal_data"] = {"image": [loaded.image for loaded in images]}
            # Our content hashes as vLLM's cache keys: it need not hash the pixels again, and
            # its processor and encoder caches hit for a repeated image.
            engine_prompt["multi_modal_uuids"] = {"image": [loaded.key for loaded in images]}
        header = response.ResponseHeader(request_id, int(time.time()), self.served_model_name)
        logprobs = None
        if request.logprobs:
            logprobs = response.LogprobsOptions(request.top_logprobs or 0, self._token_bytes)
        image_tokens = len(prompt.image_urls) * prompt.tokens_per_image
        return PreparedChat(
            header, engine_prompt, params, logprobs, request.include_usage, image_tokens, started
        )

    async def complete(self, chat: PreparedChat) -> dict[str, Any]:
        final: RequestOutput | None = None
        async for output in self._engine.generate(chat.header.id, chat.engine_prompt, chat.params):
            final = output
        if final is None:
            raise ServingError("The engine returned no output.")
        _refuse_if_cut(final)
        completion_tokens = sum(len(item.token_ids) for item in final.outputs)
        _record(chat, len(final.prompt_token_ids or ()), completion_tokens, final)
        return response.completion_object(chat.header, final, chat.logprobs)

    async def stream(self, chat: PreparedChat) -> AsyncIterator[bytes]:
        """SSE events; an error after the stream started becomes a last error event."""
        header = chat.header
        prompt_tokens, completion_tokens = 0, 0
        output: RequestOutput | None = None
        try:
            async for output in self._engine.generate(header.id, chat.engine_prompt, chat.params):
                if not prompt_tokens:
                    # The role chunk goes out with the first token, as OpenAI's and vLLM's do:
                    # a first chunk before any token would make clients' TTFT meaningless.
                    yield response.sse(response.chunk(header, response.role_choices(chat.params.n)))
                _refuse_if_cut(output)
                prompt_tokens = len(output.prompt_token_ids or ())
                completion_tokens += sum(len(item.token_ids) for item in output.outputs)
                for choice in response.stream_choices(output, chat.logprobs):
                    yield response.sse(response.chunk(header, [choice]))
        except ServingError as error:
            logger.warning("stream %s failed: %s", header.id, error.message)
            yield response.sse(serving_error_body(error))
            yield response.SSE_DONE
            return
        _record(chat, prompt_tokens, completion_tokens, output)
        if chat.include_usage:
            counts = response.usage(prompt_tokens, completion_tokens)
            yield response.sse(response.chunk(header, [], counts))
        yield response.SSE_DONE


def _refuse_if_cut(output: RequestOutput) -> None:
    """An "abort" we did not ask for: the engine cut the request (it is shutting down, e.g. a
    SIGTERM sent to the whole process group). Our own aborts (client gone, deadline) cancel the
    route first, so they never get here. An error, not a normal end with finish_reason abort."""
    if any(item.finish_reason == "abort" for item in output.outputs):
        raise NotReadyError("The request was cut short: the server is shutting down.")


def _record(chat: PreparedChat, prompt_tokens: int, completion_tokens: int, last: Any) -> None:
    counts = metrics.GenerationCounts(prompt_tokens, completion_tokens, chat.image_tokens)
    metrics.record_generation(counts, chat.started, last)


def new_request_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
