"""The OpenAI (legacy) completions request, validated; an explicit null means the default."""

from __future__ import annotations

from typing import Any, cast

from pydantic import Field, field_validator, model_validator

from server.beam_search_fields import (
    BeamSearchFields,
    refuse_what_beam_search_ignores,
    sampling_fields_applied,
)
from server.chat.schemas import (
    MAX_N,
    MAX_NAME_CHARS,
    MAX_STOP_CHARS,
    MAX_STOP_SEQUENCES,
    MAX_TEXT_CHARS,
    MAX_TOKENS,
    MAX_TOP_LOGPROBS,
    StreamOptions,
)
from server.prompts.truncation import PromptTruncationFields
from server.request_model import RequestModel
from server.vllm_sampling import VllmSamplingFields

# A batch of prompts is one request: bounded like chat's choices (prompts x n <= MAX_N).
MAX_PROMPTS = 64
MAX_PROMPT_TOKEN_IDS = 1_000_000
# OpenAI's default for completions (chat's default is the model's cap instead).
DEFAULT_MAX_TOKENS = 16
TokenIds = list[int]


class CompletionRequest(RequestModel, VllmSamplingFields, BeamSearchFields, PromptTruncationFields):
    model: str = Field(max_length=MAX_NAME_CHARS)
    prompt: str | list[str] | TokenIds | list[TokenIds]
    max_tokens: int | None = Field(None, ge=0, le=MAX_TOKENS)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=-1, le=MAX_TOKENS)
    seed: int | None = Field(None, ge=-(2**63), le=2**63 - 1)
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1, le=MAX_N)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=MAX_NAME_CHARS)
    # OpenAI fields accepted only at their neutral value (they would change the output).
    best_of: int | None = Field(None, ge=1, le=MAX_N)
    suffix: str | None = None
    # vLLM's extensions, as `vllm serve` takes them (its sampling extras and logit_bias come
    # with VllmSamplingFields, beam search with BeamSearchFields, truncate_prompt_tokens with
    # PromptTruncationFields; its benchmark client sends ignore_eos).
    return_tokens_as_token_ids: bool | None = None  # logprobs' tokens spelt "token_id:N"
    # Each choice's prompt_token_ids and token_ids (streamed: the prompt's on a choice's
    # first chunk, each chunk's new tokens).
    return_token_ids: bool | None = None
    # As chat's: only requests with the same salt share prefix-cache entries.
    cache_salt: str | None = Field(None, min_length=1, max_length=MAX_NAME_CHARS)

    @field_validator("prompt")
    @classmethod
    def _bounded_prompt(cls, prompt: Any) -> Any:
        batch = prompt if isinstance(prompt, list) and prompt and not _is_ids(prompt) else [prompt]
        if not 1 <= len(batch) <= MAX_PROMPTS:
            raise ValueError(f"takes 1 to {MAX_PROMPTS} prompts, not {len(batch)}")
        for item in batch:
            if isinstance(item, str) and len(item) > MAX_TEXT_CHARS:
                raise ValueError(f"a prompt may be at most {MAX_TEXT_CHARS} characters long")
            if isinstance(item, list) and not 1 <= len(item) <= MAX_PROMPT_TOKEN_IDS:
                raise ValueError("a prompt of token ids must not be empty")
        return prompt

    @model_validator(mode="after")
    def _consistent(self) -> CompletionRequest:
        refused = self._refused_values()
        if refused:
            raise ValueError(f"not supported by this server: {', '.join(refused)}")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        if self.use_beam_search:
            refuse_what_beam_search_ignores(self._fields_beam_search_ignores())
        if self.max_tokens == 0 and not self.echo:
            raise ValueError("max_tokens 0 needs echo set to true (it returns only the prompt)")
        stops = self.stop_sequences
        if len(stops) > MAX_STOP_SEQUENCES:
            raise ValueError(f"stop takes at most {MAX_STOP_SEQUENCES} sequences")
        if any(not stop or len(stop) > MAX_STOP_CHARS for stop in stops):
            raise ValueError(f"stop sequences must have 1 to {MAX_STOP_CHARS} characters")
        if len(self.prompts) * self.choices_per_prompt > MAX_N:
            raise ValueError(f"prompts x n may be at most {MAX_N}")
        return self

    def _refused_values(self) -> list[str]:
        refused = []
        if self.best_of not in (None, self.choices_per_prompt):
            refused.append("best_of other than n")
        if self.suffix:
            refused.append("suffix")
        return refused

    def _fields_beam_search_ignores(self) -> dict[str, bool]:
        """Each field beam search would not honour: set to something other than neutral?"""
        return {
            **sampling_fields_applied(self),
            # The search keeps each step's candidates, not the answer's logprobs.
            "logprobs": self.logprobs is not None,
        }

    @property
    def prompts(self) -> list[str] | list[TokenIds]:
        """The batch: one entry per prompt, each text or token ids."""
        prompt = self.prompt
        batch = [prompt] if isinstance(prompt, str) or _is_ids(prompt) else prompt
        return cast("list[str] | list[TokenIds]", batch)

    @property
    def choices_per_prompt(self) -> int:
        return self.n or 1

    @property
    def stop_sequences(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    @property
    def echo_only(self) -> bool:
        """echo with max_tokens 0: the prompt (and its logprobs) back, nothing generated."""
        return bool(self.echo) and self.max_tokens == 0


def _is_ids(prompt: list[Any]) -> bool:
    return bool(prompt) and all(isinstance(item, int) for item in prompt)
