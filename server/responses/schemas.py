"""The Responses API request, validated. An explicit null means the default; fields that do
not change the output are accepted and ignored; the rest of OpenAI's fields are refused by
name, all of them in one message."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from server.chat.schemas import MAX_CONTENT_PARTS, MAX_MESSAGES, MAX_NAME_CHARS, MAX_TEXT_CHARS
from server.request_model import RequestModel
from server.responses.content_parts import ContentPart
from server.responses.tool_schemas import (
    FUNCTION_CALL_ITEM,
    FUNCTION_CALL_OUTPUT_ITEM,
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    ResponsesToolChoice,
    check_tool_choice,
    only_function_tool_choice,
    only_function_tools,
)
from server.tools.schemas import MAX_TOOLS

MAX_OUTPUT_TOKENS = 1_000_000
MESSAGE_ITEM = "message"
# The input item types served (OpenAI's list also has reasoning, item references, ...).
SERVED_ITEMS = (MESSAGE_ITEM, FUNCTION_CALL_ITEM, FUNCTION_CALL_OUTPUT_ITEM)


class MessageItem(RequestModel):
    type: Literal["message"] | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    # What the SDK's own output items carry when sent back as history; not used.
    id: str | None = None
    status: str | None = None
    phase: str | None = None

    @model_validator(mode="after")
    def _bounded(self) -> MessageItem:
        if isinstance(self.content, str) and len(self.content) > MAX_TEXT_CHARS:
            raise ValueError(f"content may be at most {MAX_TEXT_CHARS} characters long")
        if isinstance(self.content, list) and not 1 <= len(self.content) <= MAX_CONTENT_PARTS:
            raise ValueError(f"content takes 1 to {MAX_CONTENT_PARTS} parts")
        return self


def _item_type(item: Any) -> str:
    """A message item may leave out its type (the SDK's EasyInputMessage does)."""
    kind = item.get("type") if isinstance(item, dict) else getattr(item, "type", None)
    return str(kind or MESSAGE_ITEM)


InputItem = Annotated[
    Annotated[MessageItem, Tag(MESSAGE_ITEM)]
    | Annotated[FunctionCallItem, Tag(FUNCTION_CALL_ITEM)]
    | Annotated[FunctionCallOutputItem, Tag(FUNCTION_CALL_OUTPUT_ITEM)],
    Discriminator(_item_type),
]


class TextFormat(RequestModel):
    type: Literal["text"]


class JsonObjectFormat(RequestModel):
    type: Literal["json_object"]


class JsonSchemaFormat(RequestModel):
    """OpenAI's Responses shape (flat; chat nests these under `json_schema`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Literal["json_schema"]
    name: str = Field("response", max_length=MAX_NAME_CHARS)
    description: str | None = None
    json_schema: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


OutputFormat = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")
]


class TextOptions(RequestModel):
    format: OutputFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ResponsesRequest(RequestModel):
    model: str = Field(max_length=MAX_NAME_CHARS)
    input: str | list[InputItem]
    instructions: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    max_output_tokens: int | None = Field(None, ge=1, le=MAX_OUTPUT_TOKENS)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stream: bool | None = None
    text: TextOptions | None = None
    tools: list[FunctionTool] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: ResponsesToolChoice | None = None  # after tools: its check reads them
    parallel_tool_calls: bool | None = None
    # Accepted and ignored: they do not change the output.
    store: bool | None = None
    metadata: dict[str, str] | None = None
    user: str | None = Field(None, max_length=MAX_NAME_CHARS)
    safety_identifier: str | None = Field(None, max_length=MAX_NAME_CHARS)
    prompt_cache_key: str | None = Field(None, max_length=MAX_NAME_CHARS)
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None  # vLLM caches by prefix
    service_tier: str | None = Field(None, max_length=MAX_NAME_CHARS)
    # Caps calls to OpenAI's built-in tools, which are not served; function calls are counted
    # by parallel_tool_calls.
    max_tool_calls: int | None = Field(None, ge=1)
    stream_options: dict[str, Any] | None = None
    truncation: Literal["disabled"] | None = None
    # Refused unless null or neutral (see _refused): they need state or features not served.
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    background: bool | None = None
    reasoning: dict[str, Any] | None = None
    include: list[str] | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    prompt: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _only_served_items(cls, data: Any) -> Any:
        items = data.get("input") if isinstance(data, dict) else None
        if isinstance(items, list):
            kinds = {
                _item_type(item)
                for item in items
                if isinstance(item, dict) and _item_type(item) not in SERVED_ITEMS
            }
            if kinds:
                raise ValueError(f"input items of type {sorted(kinds)} are not supported")
        return data

    @field_validator("tools", mode="before")
    @classmethod
    def _function_tools(cls, tools: Any) -> Any:
        return only_function_tools(tools)

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _function_tool_choice(cls, choice: Any) -> Any:
        return only_function_tool_choice(choice)

    @field_validator("tool_choice")
    @classmethod
    def _declared_tool(
        cls, choice: ResponsesToolChoice | None, info: ValidationInfo
    ) -> ResponsesToolChoice | None:
        check_tool_choice(info.data.get("tools"), choice)
        return choice

    @model_validator(mode="after")
    def _refused(self) -> ResponsesRequest:
        refused = [name for name, value in self._refusable().items() if value]
        if refused:
            raise ValueError(f"not supported by this server: {', '.join(refused)}")
        if isinstance(self.input, list) and not 1 <= len(self.input) <= MAX_MESSAGES:
            raise ValueError(f"input takes 1 to {MAX_MESSAGES} items")
        if isinstance(self.input, str) and len(self.input) > MAX_TEXT_CHARS:
            raise ValueError(f"input may be at most {MAX_TEXT_CHARS} characters long")
        return self

    def _refusable(self) -> dict[str, object]:
        return {
            "conversation (the server keeps no state)": self.conversation,
            "background": self.background,
            "reasoning (not a reasoning model)": self.reasoning
            and any(value is not None for value in self.reasoning.values()),
            "include": self.include,
            "top_logprobs": self.top_logprobs,
            "prompt (stored prompts)": self.prompt,
        }
