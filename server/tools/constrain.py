"""The JSON schema a forced tool call is decoded under, built from the tools.

Every call, whatever tool_choice, is written as {"name": ..., "arguments": {...}}; several
calls as a list of those. `required` constrains the output to a list of 1 (or, with
parallel_tool_calls, more) such calls, each naming one declared tool with arguments valid for
it; a named tool_choice to exactly one call of that tool. So the arguments always parse.
"""

from __future__ import annotations

from typing import Any

from vllm.sampling_params import StructuredOutputsParams

from server.tools.schemas import NamedToolChoice, Tool, ToolChoice


def call_schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "name": {"const": tool.function.name},
            "arguments": tool.function.parameters,
        },
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def forced_call_schema(
    tools: list[Tool], choice: ToolChoice, parallel: bool
) -> dict[str, Any] | None:
    """None when the model may answer freely (tool_choice none or auto)."""
    chosen = [tool for _, tool in constrained_tools(tools, choice)]
    if not chosen:
        return None
    if isinstance(choice, NamedToolChoice):
        return call_schema(chosen[0])
    one_call = {"anyOf": [call_schema(tool) for tool in chosen]}
    schema: dict[str, Any] = {"type": "array", "items": one_call, "minItems": 1}
    if not parallel:
        schema["maxItems"] = 1
    return schema


def constrained_tools(tools: list[Tool], choice: ToolChoice) -> list[tuple[int, Tool]]:
    """The tools (with their indexes) whose parameters a forced call is decoded under: none
    for tool_choice none or auto."""
    if isinstance(choice, NamedToolChoice):
        name = choice.function.name
        return [(index, tool) for index, tool in enumerate(tools) if tool.function.name == name]
    return list(enumerate(tools)) if choice == "required" else []


def tool_constraint(
    tools: list[Tool], choice: ToolChoice, parallel: bool
) -> StructuredOutputsParams | None:
    schema = forced_call_schema(tools, choice, parallel)
    if schema is None:
        return None
    return StructuredOutputsParams(json=schema)
