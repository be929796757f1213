"""The OpenAI chat-completions objects this server sends, as TypedDicts: typed for mypy, plain
dicts at run time (one json.dumps per event, no per-token pydantic round-trips). Field names
and nesting are OpenAI's (openai-python's ChatCompletion and ChatCompletionChunk); the
NotRequired extras are vLLM's (token ids, prompt logprobs) and ours (image token counts)."""

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
    cached_tokens: int  # served from vLLM's prefix cache
    image_tokens: int


class CompletionUsage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: NotRequired[PromptTokensDetails]


class FunctionCall(TypedDict):
    name: str
    arguments: str  # a JSON string, as OpenAI sends it


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: str | None  # None when the answer is tool calls
    tool_calls: NotRequired[list[ToolCall]]


class Choice(TypedDict):
    index: int
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None
    finish_reason: str | None
    token_ids: NotRequired[list[int]]


# vLLM's prompt_logprobs: per prompt token (the first has none), token id -> its logprob entry.
PromptLogprobs = list[dict[str, dict[str, Any]] | None]


class ChatCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    prompt_logprobs: NotRequired[PromptLogprobs]
    prompt_token_ids: NotRequired[list[int]]


class FunctionCallDelta(TypedDict, total=False):
    name: str
    arguments: str


class ToolCallDelta(TypedDict, total=False):
    index: int
    id: str
    type: Literal["function"]
    function: FunctionCallDelta


class Delta(TypedDict, total=False):
    """The first delta of a choice carries the role; later ones new content or tool calls, the
    last one nothing (its choice carries the finish reason)."""

    role: Literal["assistant"]
    content: str
    tool_calls: list[ToolCallDelta]


class ChunkChoice(TypedDict):
    index: int
    delta: Delta
    logprobs: ChoiceLogprobs | None
    finish_reason: str | None
    token_ids: NotRequired[list[int]]  # vLLM's return_token_ids: this chunk's new tokens


class ChatCompletionChunk(TypedDict):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: NotRequired[CompletionUsage]  # only on the last chunk, when include_usage is asked
    prompt_token_ids: NotRequired[list[int]]  # vLLM's return_token_ids: on the first chunk
