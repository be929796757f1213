"""The OpenAI chat-completions request, validated; a field we do not support is refused by name."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

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

_T = TypeVar("_T")


def _valid_unicode(value: _T) -> _T:
    """JSON may carry a lone UTF-16 surrogate ("\\ud800"), which no tokenizer can encode.
    Checks a text, or each text (or text part) of a list."""
    for item in value if isinstance(value, list) else [value]:
        text = item if isinstance(item, str) else getattr(item, "text", None)
        if not isinstance(text, str):
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(
                f"the text holds a lone UTF-16 surrogate at position {error.start}; "
                "it is not valid Unicode"
            ) from None
    return value


def _not_a_boolean(value: object) -> object:
    """JSON true is not the number 1 (pydantic's lax mode would take it as one)."""
    if isinstance(value, bool):
        raise ValueError("a number is expected, not a boolean")
    return value


Text = Annotated[str, AfterValidator(_valid_unicode)]
Int = Annotated[int, BeforeValidator(_not_a_boolean)]
Float = Annotated[float, BeforeValidator(_not_a_boolean)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageURL(_Strict):
    url: Text = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class TextPart(_Strict):
    type: Literal["text"]
    text: str = Field(max_length=MAX_TEXT_CHARS)


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(_Strict):
    role: Literal["system", "user", "assistant"]
    content: Annotated[str | list[ContentPart], AfterValidator(_valid_unicode)]
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


class StreamOptions(_Strict):
    include_usage: bool = False


class ChatCompletionRequest(_Strict):
    model: Text = Field(max_length=MAX_NAME_CHARS)
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: Int | None = Field(None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: Int | None = Field(None, ge=1, le=MAX_TOKENS)
    temperature: Float | None = Field(None, ge=0, le=2)
    top_p: Float | None = Field(None, gt=0, le=1)
    top_k: Int | None = Field(None, ge=-1, le=MAX_TOKENS)
    seed: Int | None = Field(None, ge=-(2**63), le=2**63 - 1)
    stop: Annotated[str | list[str] | None, AfterValidator(_valid_unicode)] = None
    n: Int = Field(1, ge=1, le=MAX_N)
    presence_penalty: Float = Field(0.0, ge=-2, le=2)
    frequency_penalty: Float = Field(0.0, ge=-2, le=2)
    logprobs: bool = False
    top_logprobs: Int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: Text | None = Field(None, max_length=MAX_NAME_CHARS)
    # vLLM's extension, which its benchmark client sends: generate exactly max_tokens.
    ignore_eos: bool = False

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
        return self

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
