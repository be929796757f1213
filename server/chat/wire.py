"""The OpenAI chat-completions objects this server sends, as TypedDicts: typed for mypy, plain
dicts at run time (one json.dumps per event, no per-token pydantic round-trips). Field names
and nesting are OpenAI's (openai-python's ChatCompletion and ChatCompletionChunk)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class TopLogprob(TypedDict):
    token: str
    logprob: float
    bytes: list[int]


class TokenLogprob(TypedDict):
    token: str
    logprob: float
    bytes: list[int]
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(TypedDict):
    content: list[TokenLogprob]


class PromptTokensDetails(TypedDict):
    cached_tokens: int  # served by vLLM's prefix cache
    image_tokens: int


class CompletionUsage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: NotRequired[PromptTokensDetails]


class FunctionCall(TypedDict):
    name: str
    arguments: str  # JSON text


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: str | None  # None when the reply is tool calls only
    tool_calls: NotRequired[list[ToolCall]]


class Choice(TypedDict):
    index: int
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None
    finish_reason: str | None
    token_ids: NotRequired[list[int]]  # vLLM's return_token_ids


class ChatCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    # vLLM's extras, when asked for: prompt_logprobs, return_token_ids.
    prompt_logprobs: NotRequired[list[dict[str, dict[str, Any]] | None]]
    prompt_token_ids: NotRequired[list[int]]


class Delta(TypedDict, total=False):
    """The first delta of a choice carries the role; later ones only new content, the last
    one nothing (its choice carries the finish reason)."""

    role: Literal["assistant"]
    content: str
    tool_calls: list[dict[str, Any]]  # OpenAI's tool-call deltas (index, then id/name/arguments)


class ChunkChoice(TypedDict):
    index: int
    delta: Delta
    logprobs: ChoiceLogprobs | None
    finish_reason: str | None


class ChatCompletionChunk(TypedDict):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: NotRequired[CompletionUsage]  # only on the last chunk, when include_usage is asked
