"""OpenAI's function tools, tool_choice and tool calls, as request schemas (shared by the chat
and Responses APIs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from server.request_model import RequestModel

MAX_TOOLS = 128
MAX_TOOL_CALLS = 128
FUNCTION_NAME_PATTERN = r"^[a-zA-Z0-9_.\-]{1,64}$"
MAX_DESCRIPTION_CHARS = 8192
MAX_ARGUMENTS_CHARS = 200_000


class FunctionDefinition(RequestModel):
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    strict: bool | None = None


class Tool(RequestModel):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(RequestModel):
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)


class NamedToolChoice(RequestModel):
    type: Literal["function"]
    function: FunctionName


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class ToolCallFunction(RequestModel):
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    arguments: str = Field(max_length=MAX_ARGUMENTS_CHARS)


class ToolCall(RequestModel):
    """A call in an assistant message of the history."""

    id: str = Field(max_length=256)
    type: Literal["function"] = "function"
    function: ToolCallFunction


def check_tool_choice(tools: list[Tool] | None, choice: ToolChoice | None) -> None:
    """tool_choice must name a declared tool, and needs tools unless it is "none"."""
    if choice is None or choice == "none":
        return
    if not tools:
        raise ValueError("tool_choice needs tools")
    if isinstance(choice, NamedToolChoice):
        names = [tool.function.name for tool in tools]
        if choice.function.name not in names:
            raise ValueError(f"tool_choice names {choice.function.name!r}, not one of {names}")
