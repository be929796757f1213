"""Chat completions: request -> prompt, images, sampling -> engine -> response or stream."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vllm import SamplingParams
from vllm.inputs import TokensPrompt
from vllm.outputs import RequestOutput
from vllm.sampling_params import BeamSearchParams

from server import metrics
from server.chat import response
from server.chat.answer_start import AnswerStart
from server.chat.constraints import request_constraint, tool_reader
from server.chat.messages import echoed_text, template_messages
from server.chat.prompt_workers import PromptWorkers
from server.chat.sampling import completion_budget, generation_params
from server.chat.schemas import ChatCompletionRequest, ImagePart
from server.chat.text_budget import (
    max_text_chars,
    refuse_chars_past_context,
    refuse_text_past_context,
)
from server.chat.token_bytes import TokenBytes, token_id_spelling
from server.chat.tokenize import TokenizeRequest, expand_images, tokenize_response
from server.chat.wire import ChatCompletion, ChunkChoice
from server.engine import Engine
from server.errors import (
    BadRequestError,
    ModelNotFoundError,
    NotReadyError,
    ServingError,
    serving_error_body,
)
from server.media.loader import LoadedImage, MediaLoader
from server.model_repo import ModelSpec
from server.prompts.base import PromptBuilder
from server.prompts.ending import PromptEnding
from server.prompts.truncation import kept_prompt_tokens, last_tokens_of
from server.structured.check import ConstraintCheck
from server.tools.streaming import ToolCallStream

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Threads that render and tokenize prompts (off the event loop): a few, so one long prompt does
# not hold up the others.
PROMPT_WORKERS = 4


@dataclass(frozen=True)
class PreparedChat:
    """Everything the engine needs, checked; built before any response byte is sent."""

    header: response.ResponseHeader
    engine_prompt: TokensPrompt
    params: SamplingParams | BeamSearchParams
    logprobs: response.LogprobsOptions | None
    include_usage: bool
    image_tokens: int = 0
    started: float = 0.0  # wall-clock (time.time()), as vLLM's arrival_time, for TTFT
    options: response.ChoiceOptions = field(default_factory=response.ChoiceOptions)

    @property
    def choices(self) -> int:
        """How many answers: `n` samples, or `n` beams."""
        params = self.params
        return int(params.beam_width if isinstance(params, BeamSearchParams) else params.n)


class ChatService:
    def __init__(
        self,
        engine: Engine,
        prompts: PromptBuilder,
        media: MediaLoader,
        spec: ModelSpec,
        served_model_name: str,
    ):
        self._engine = engine
        self._prompts = prompts
        self._token_bytes = TokenBytes(prompts.tokenizer)
        self._media = media
        self._spec = spec
        self.served_model_name = served_model_name
        self._constraint_check = ConstraintCheck(engine.check_structured_outputs)
        self._max_text_chars = max_text_chars(prompts.tokenizer, engine.max_model_len)
        self._prompt_workers = PromptWorkers(prompts, PROMPT_WORKERS)

    # What the other generation APIs (server/completions, server/responses) share with chat.

    @property
    def prompts(self) -> PromptBuilder:
        return self._prompts

    def spelling(self, as_token_ids: bool | None) -> response.TokenBytesFn:
        """How a request's logprobs spell a token: its bytes, or its id when it asks so."""
        return token_id_spelling if as_token_ids else self._token_bytes

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def context_length(self) -> int:
        return self._engine.max_model_len

    def refuse_chars_past_context(self, chars: int, param: str) -> None:
        """Before any tokenizing: text that cannot fit the context, whatever it says."""
        refuse_chars_past_context(chars, self._max_text_chars, self.context_length, param)

    async def in_prompt_worker(self, task: Callable[[PromptBuilder], T]) -> T:
        """Tokenizer work off the event loop, on a prompt builder no other thread uses."""
        return await self._prompt_workers.run(task)

    async def generate(self, prepared: PreparedChat) -> AsyncIterator[RequestOutput]:
        """The engine's outputs for a prepared request (deltas or only the final one, as its
        params ask); records the request's metrics once the engine has finished it."""
        prompt_tokens, completion_tokens = 0, 0
        output: RequestOutput | None = None
        async for output in self._outputs(prepared):
            prompt_tokens = len(output.prompt_token_ids or ()) or prompt_tokens
            completion_tokens += sum(len(item.token_ids) for item in output.outputs)
            yield output
        _record(prepared, prompt_tokens, completion_tokens, output)

    def _outputs(self, chat: PreparedChat) -> AsyncIterator[RequestOutput]:
        if isinstance(chat.params, BeamSearchParams):
            return self._engine.beam_search(chat.header.id, chat.engine_prompt, chat.params)
        return self._engine.generate(chat.header.id, chat.engine_prompt, chat.params)

    async def prepare(self, request: ChatCompletionRequest, request_id: str) -> PreparedChat:
        started = time.time()
        if request.model != self.served_model_name:
            raise ModelNotFoundError(request.model, [self.served_model_name])
        # Counted before the prompt is rendered and tokenized: 16k image parts took 2 s to
        # render before this refusal; text that cannot fit is refused before tokenizing.
        self._check_image_count(count_image_parts(request))
        messages = template_messages(request.messages, request.tools or [])
        keep_last = kept_prompt_tokens(request.truncate_prompt_tokens, self.context_length)
        if keep_last is None:  # truncated, the text may be longer than the context
            refuse_text_past_context(messages, self._max_text_chars, self.context_length)
        ending = request.prompt_ending
        built = await self._prompt_workers.build(messages, ending)
        prompt = last_tokens_of(built, keep_last, self._prompts.image_token_id)
        max_tokens = completion_budget(request, self._spec, prompt, self._engine.max_model_len)
        constraint = request_constraint(request, self._constraint_check)
        params = generation_params(request, self._spec, max_tokens, constraint)
        images = await self._media.load_all(prompt.image_urls)
        engine_prompt = build_engine_prompt(prompt.token_ids, images, request.cache_salt)
        header = response.ResponseHeader(request_id, int(time.time()), self.served_model_name)
        logprobs = None
        if request.logprobs:
            spelling = self.spelling(request.return_tokens_as_token_ids)
            logprobs = response.LogprobsOptions(request.top_logprobs or 0, spelling)
        image_tokens = len(prompt.image_urls) * prompt.tokens_per_image
        options = response.ChoiceOptions(
            tool_reader(request),
            request.return_token_ids,
            image_tokens,
            # A continued message goes on as generated: its next word keeps its space.
            self._spec.strip_leading_space and ending is PromptEnding.GENERATION_PROMPT,
            echoed_text(messages) if request.echo else "",
        )
        return PreparedChat(
            header,
            engine_prompt,
            params,
            logprobs,
            request.include_usage,
            image_tokens,
            started,
            options,
        )

    def _check_image_count(self, images: int) -> None:
        max_images = self._spec.engine.max_images
        if images > max_images:
            raise BadRequestError(
                f"The request has {images} images; this model takes at most "
                f"{max_images} per request.",
                param="messages",
                code="too_many_images",
            )

    async def tokenize(self, request: TokenizeRequest) -> dict[str, Any]:
        if request.model != self.served_model_name:
            raise ModelNotFoundError(request.model, [self.served_model_name])
        if request.messages is not None:
            messages = template_messages(request.messages, request.tools or [])
            refuse_text_past_context(messages, self._max_text_chars, self.context_length)
        else:
            self.refuse_chars_past_context(len(request.prompt or ""), "prompt")
        return await self.in_prompt_worker(
            lambda builder: _tokenize(builder, request, self.context_length)
        )

    async def complete(self, chat: PreparedChat) -> ChatCompletion:
        final: RequestOutput | None = None
        async for output in self._outputs(chat):
            final = output
        if final is None:
            raise ServingError("The engine returned no output.")
        _refuse_if_cut(final)
        completion_tokens = sum(len(item.token_ids) for item in final.outputs)
        _record(chat, len(final.prompt_token_ids or ()), completion_tokens, final)
        return response.completion_object(chat.header, final, chat.logprobs, chat.options)

    async def stream(self, chat: PreparedChat) -> AsyncIterator[bytes]:
        """SSE events ending with [DONE]. Whatever fails once the stream has started (the
        engine, or a bug of ours) becomes a last error event before [DONE]: the status line
        is long sent, and a client must never see a stream that just stops."""
        header = chat.header
        prompt_tokens, completion_tokens = 0, 0
        output: RequestOutput | None = None
        last: RequestOutput | None = None
        reader = chat.options.tools
        tool_streams = (
            {index: ToolCallStream(reader) for index in range(chat.choices)} if reader else {}
        )
        start = chat.options.answer_start()
        try:
            async for output in self._outputs(chat):
                if not prompt_tokens:
                    # The role chunk goes out with the first token, as OpenAI's and vLLM's do:
                    # a first chunk before any token would make clients' TTFT meaningless.
                    first = response.first_chunk(header, output, chat.choices, chat.options)
                    yield response.sse(first)
                _refuse_if_cut(output)
                prompt_tokens = len(output.prompt_token_ids or ())
                completion_tokens += sum(len(item.token_ids) for item in output.outputs)
                last = output
                for choice in _chunk_choices(chat, output, tool_streams, start):
                    yield response.sse(response.chunk(header, [choice]))
            _record(chat, prompt_tokens, completion_tokens, output)
            if chat.include_usage:
                details = response.prompt_tokens_details(chat.image_tokens, last)
                counts = response.usage(prompt_tokens, completion_tokens, details)
                yield response.sse(response.chunk(header, [], counts))
        except ServingError as error:
            logger.warning("stream %s failed: %s", header.id, error.message)
            failure = error
        except Exception:  # cancellation (a BaseException) still goes through
            logger.exception("stream %s failed", header.id)
            failure = ServingError("The server failed while streaming the answer.")
        else:
            yield response.SSE_DONE
            return
        yield response.sse(serving_error_body(failure))
        yield response.SSE_DONE


def _chunk_choices(
    chat: PreparedChat,
    output: RequestOutput,
    tool_streams: dict[int, ToolCallStream],
    start: AnswerStart,
) -> list[ChunkChoice]:
    """One delta output's choices: tool-call events when tools may be called, else text."""
    if tool_streams:
        return response.tool_stream_choices(output, tool_streams)
    return response.stream_choices(output, chat.logprobs, start, chat.options.return_token_ids)


def build_engine_prompt(
    token_ids: list[int], images: list[LoadedImage], cache_salt: str | None
) -> TokensPrompt:
    engine_prompt = TokensPrompt(prompt_token_ids=token_ids)
    if cache_salt is not None:
        engine_prompt["cache_salt"] = cache_salt
    if images:
        engine_prompt["multi_modal_data"] = {"image": [loaded.image for loaded in images]}
        # Our content hashes as vLLM's cache keys: it need not hash the pixels again, and its
        # processor and encoder caches hit for a repeated image.
        engine_prompt["multi_modal_uuids"] = {"image": [loaded.key for loaded in images]}
    return engine_prompt


def _refuse_if_cut(output: RequestOutput) -> None:
    """An "abort" we did not ask for: the engine cut the request (it is shutting down, e.g. a
    SIGTERM sent to the whole process group). Our own aborts (client gone, deadline) cancel the
    route first, so they never get here. An error, not a normal end with finish_reason abort."""
    if any(item.finish_reason == "abort" for item in output.outputs):
        raise NotReadyError("The request was cut short: the server is shutting down.")


def _record(chat: PreparedChat, prompt_tokens: int, completion_tokens: int, last: Any) -> None:
    counts = metrics.GenerationCounts(prompt_tokens, completion_tokens, chat.image_tokens)
    metrics.record_generation(counts, chat.started, last)


def count_image_parts(request: ChatCompletionRequest) -> int:
    return sum(
        isinstance(part, ImagePart)
        for message in request.messages
        if isinstance(message.content, list)
        for part in message.content
    )


def _tokenize(
    builder: PromptBuilder, request: TokenizeRequest, context_length: int
) -> dict[str, Any]:
    tokenizer = builder.tokenizer
    if request.messages is not None:
        messages = template_messages(request.messages, request.tools or [])
        prompt = builder.build(messages, request.prompt_ending)
        ids = expand_images(prompt.token_ids, builder.image_token_id, prompt.tokens_per_image)
    else:
        add_special_tokens = request.add_special_tokens
        ids = tokenizer(request.prompt or "", add_special_tokens=add_special_tokens)["input_ids"]
    strs = tokenizer.convert_ids_to_tokens(ids) if request.return_token_strs else None
    return tokenize_response(ids, context_length, strs)
