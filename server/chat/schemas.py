"""The OpenAI chat-completions request, validated; a field we do not support is refused by name."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from server.beam_search_fields import (
    BeamSearchFields,
    refuse_what_beam_search_ignores,
    sampling_fields_applied,
)
from server.prompts.ending import PromptEndingFields
from server.prompts.truncation import PromptTruncationFields
from server.request_model import Float, Int, RequestModel, Text, valid_unicode
from server.structured.formats import ResponseFormat, VllmStructuredOutputs
from server.tools.schemas import (
    MAX_TOOL_CALLS,
    MAX_TOOLS,
    Tool,
    ToolCall,
    ToolChoice,
    check_tool_choice,
)
from server.vllm_sampling import VllmSamplingFields

MAX_STOP_SEQUENCES = 4
MAX_TOP_LOGPROBS = 20
# Caps that bound the work one request can ask for, whatever the model (README "Security").
MAX_MESSAGES = 256
MAX_CONTENT_PARTS = 64
MAX_TEXT_CHARS = 200_000
MAX_STOP_CHARS = 256
MAX_N = 128
MAX_NAME_CHARS = 256
MAX_TOKENS = 1_000_000


class ImageURL(RequestModel):
    url: Text = Field(min_length=1)
    # Accepted and ignored: a LLaVA model sees every image at its one input size.
    detail: Literal["auto", "low", "high"] | None = None


class TextPart(RequestModel):
    type: Literal["text"]
    text: str = Field(max_length=MAX_TEXT_CHARS)


class ImagePart(RequestModel):
    type: Literal["image_url"]
    image_url: ImageURL
    # vLLM's cache identifier of an image; accepted: this server keys its caches by content.
    uuid: str | None = Field(None, max_length=MAX_NAME_CHARS)


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(RequestModel):
    role: Literal["system", "user", "assistant"]
    content: Annotated[str | list[ContentPart], AfterValidator(valid_unicode)]
    name: Text | None = Field(None, max_length=MAX_NAME_CHARS)

    @model_validator(mode="after")
    def _images_only_from_users(self) -> ChatMessage:
        if isinstance(self.content, str) and len(self.content) > MAX_TEXT_CHARS:
            raise ValueError(f"content may be at most {MAX_TEXT_CHARS} characters long")
        parts = self.content if isinstance(self.content, list) else []
        if isinstance(self.content, list) and not 1 <= len(parts) <= MAX_CONTENT_PARTS:
            raise ValueError(f"content takes 1 to {MAX_CONTENT_PARTS} parts, not {len(parts)}")
        if self.role != "user" and any(isinstance(part, ImagePart) for part in parts):
            raise ValueError(f"only user messages may carry images, not {self.role} messages")
        return self


class InputMessage(RequestModel):
    """A message as clients send it: also `developer` (a system message), `tool` results and
    assistant tool calls; server/chat/messages.py turns these into template ChatMessages."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[str | list[ContentPart] | None, AfterValidator(valid_unicode)] = None
    name: Text | None = Field(None, max_length=MAX_NAME_CHARS)
    tool_calls: list[ToolCall] | None = Field(None, max_length=MAX_TOOL_CALLS)
    tool_call_id: Text | None = Field(None, max_length=MAX_NAME_CHARS)

    @model_validator(mode="after")
    def _consistent(self) -> InputMessage:
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs content")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if self.content is not None:
            ChatMessage(role="user", content=self.content)  # the same caps as a template message
        parts = self.content if isinstance(self.content, list) else []
        if self.role != "user" and any(isinstance(part, ImagePart) for part in parts):
            raise ValueError(f"only user messages may carry images, not {self.role} messages")
        return self


class StreamOptions(RequestModel):
    include_usage: bool = False


class ChatCompletionRequest(
    RequestModel,
    VllmSamplingFields,
    BeamSearchFields,
    PromptEndingFields,
    PromptTruncationFields,
):
    model: Text = Field(max_length=MAX_NAME_CHARS)
    messages: list[InputMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: Int | None = Field(None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: Int | None = Field(None, ge=1, le=MAX_TOKENS)
    temperature: Float | None = Field(None, ge=0, le=2)
    top_p: Float | None = Field(None, gt=0, le=1)
    top_k: Int | None = Field(None, ge=-1, le=MAX_TOKENS)
    seed: Int | None = Field(None, ge=-(2**63), le=2**63 - 1)
    stop: Annotated[str | list[str] | None, AfterValidator(valid_unicode)] = None
    n: Int = Field(1, ge=1, le=MAX_N)
    presence_penalty: Float = Field(0.0, ge=-2, le=2)
    frequency_penalty: Float = Field(0.0, ge=-2, le=2)
    logprobs: bool = False
    top_logprobs: Int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: Text | None = Field(None, max_length=MAX_NAME_CHARS)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool = True
    # Accepted and ignored: they do not change the output (README "Chat completions fields").
    store: Literal[False] | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = Field(None, max_length=MAX_NAME_CHARS)
    safety_identifier: str | None = Field(None, max_length=MAX_NAME_CHARS)
    prompt_cache_key: str | None = Field(None, max_length=MAX_NAME_CHARS)
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None  # vLLM caches by prefix
    modalities: list[Literal["text"]] | None = None
    # vLLM's extensions, as `vllm serve` takes them (its sampling extras and logit_bias come
    # with VllmSamplingFields, beam search with BeamSearchFields, truncate_prompt_tokens with
    # PromptTruncationFields).
    return_token_ids: bool = False
    return_tokens_as_token_ids: bool = False  # logprobs' tokens spelt "token_id:N"
    # How the prompt ends comes with PromptEndingFields; echo: the final message's text first
    # in the answer when it is the assistant's, as vLLM's server does.
    echo: bool = False
    priority: int = 0  # vLLM's scheduling priority: only 0, as `vllm serve` schedules FCFS
    prompt_logprobs: Int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    structured_outputs: VllmStructuredOutputs | None = None
    # Salts this request's prefix-cache entries: only requests with the same salt share them,
    # so one tenant cannot learn from cache hits what another's prompts begin with.
    cache_salt: str | None = Field(None, min_length=1, max_length=MAX_NAME_CHARS)

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionRequest:
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs set to true")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        if len(self.stop_sequences) > MAX_STOP_SEQUENCES:
            raise ValueError(f"stop takes at most {MAX_STOP_SEQUENCES} sequences")
        if any(not sequence for sequence in self.stop_sequences):
            raise ValueError("stop sequences must not be empty")
        if any(len(sequence) > MAX_STOP_CHARS for sequence in self.stop_sequences):
            raise ValueError(f"stop sequences may be at most {MAX_STOP_CHARS} characters long")
        if self.structured_outputs is not None and self.response_format is not None:
            raise ValueError("give response_format or structured_outputs, not both")
        if self.priority != 0:
            raise ValueError("priority must be 0: this server schedules first come, first served")
        if self.use_beam_search:
            refuse_what_beam_search_ignores(self._fields_beam_search_ignores())
        return self

    def _fields_beam_search_ignores(self) -> dict[str, bool]:
        """Each field beam search would not honour: set to something other than neutral?"""
        constrained_format = self.response_format is not None and (
            self.response_format.type != "text"
        )
        return {
            **sampling_fields_applied(self),
            "response_format": constrained_format,
            "structured_outputs": self.structured_outputs is not None,
            "tool_choice": self.effective_tool_choice not in ("none", "auto"),
            "prompt_logprobs": self.prompt_logprobs is not None,
            # The search keeps each step's candidates, not the answer's top_logprobs.
            "logprobs": self.logprobs,
        }

    @field_validator("tool_choice")
    @classmethod
    def _declared_tool(cls, choice: ToolChoice | None, info: ValidationInfo) -> ToolChoice | None:
        check_tool_choice(info.data.get("tools"), choice)
        return choice

    @property
    def effective_tool_choice(self) -> ToolChoice:
        """OpenAI's default: "auto" when tools are given, else "none"."""
        if not self.tools:
            return "none"
        return self.tool_choice if self.tool_choice is not None else "auto"

    @property
    def stop_sequences(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def requested_max_tokens(self) -> int | None:
        # max_completion_tokens is OpenAI's newer name; it wins when both are given.
        return self.max_completion_tokens or self.max_tokens

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage
