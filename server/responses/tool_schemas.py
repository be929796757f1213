"""Function tools in the Responses API's shapes: flat tool definitions and tool_choice, and the
function_call / function_call_output input items a client sends back as history. Only
function tools are served; OpenAI's built-in ones (web_search, file_search, computer, mcp,
custom, ...) are refused by type, all of them in one message."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from server.chat.schemas import MAX_CONTENT_PARTS, MAX_NAME_CHARS, MAX_TEXT_CHARS
from server.request_model import RequestModel
from server.responses.content_parts import InputText
from server.tools.schemas import FUNCTION_NAME_PATTERN, MAX_ARGUMENTS_CHARS, MAX_DESCRIPTION_CHARS

FUNCTION = "function"
FUNCTION_CALL_ITEM = "function_call"
FUNCTION_CALL_OUTPUT_ITEM = "function_call_output"


class FunctionTool(RequestModel):
    """OpenAI's Responses FunctionTool (chat nests these fields under `function`)."""

    type: Literal["function"]
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionToolChoice(RequestModel):
    type: Literal["function"]
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)


ResponsesToolChoice = Literal["none", "auto", "required"] | FunctionToolChoice


class FunctionCallItem(RequestModel):
    """A call the model made, sent back as history."""

    type: Literal["function_call"]
    call_id: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    arguments: str = Field(max_length=MAX_ARGUMENTS_CHARS)
    # What the SDK's own output items carry; not used.
    id: str | None = Field(None, max_length=MAX_NAME_CHARS)
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallOutputItem(RequestModel):
    """A call's result: text, as chat's tool messages take it (images only come from users)."""

    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    output: (
        Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
        | Annotated[list[InputText], Field(max_length=MAX_CONTENT_PARTS)]
    )
    id: str | None = Field(None, max_length=MAX_NAME_CHARS)
    status: Literal["in_progress", "completed", "incomplete"] | None = None

    @field_validator("output", mode="before")
    @classmethod
    def _text_parts_only(cls, output: Any) -> Any:
        if isinstance(output, list):
            kinds = {
                str(part.get("type"))
                for part in output
                if isinstance(part, dict) and part.get("type") != "input_text"
            }
            if kinds:
                raise ValueError(
                    f"output parts of type {sorted(kinds)} are not supported: a function's "
                    "output is text (a string or input_text parts)"
                )
        return output


def only_function_tools(tools: Any) -> Any:
    """Before validation: every tool that is not a function, refused by its type."""
    if not isinstance(tools, list):
        return tools
    kinds = {
        str(tool.get("type"))
        for tool in tools
        if isinstance(tool, dict) and tool.get("type") not in (FUNCTION, None)
    }
    if kinds:
        raise ValueError(
            f"tools of type {sorted(kinds)} are not supported: this server serves function "
            "tools only"
        )
    return tools


def only_function_tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") not in (FUNCTION, None):
        raise ValueError(
            f"tool_choice of type {str(choice.get('type'))!r} is not supported: this server "
            "serves function tools only"
        )
    return choice


def check_tool_choice(tools: list[FunctionTool] | None, choice: ResponsesToolChoice | None) -> None:
    """A named tool_choice must name a declared tool; `required` needs tools. `auto` and `none`
    without tools are neutral (the SDK and agents send them so)."""
    if isinstance(choice, FunctionToolChoice):
        names = [tool.name for tool in tools or []]
        if choice.name not in names:
            raise ValueError(f"tool_choice names {choice.name!r}, not one of {names}")
    elif choice == "required" and not tools:
        raise ValueError("tool_choice 'required' needs tools")
