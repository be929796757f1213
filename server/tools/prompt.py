"""How tools and tool history reach a prompt, for any conversation template.

LLaVA's templates know nothing of tools, so the model is told in plain text:
- the tools are listed in the system message (one is added if the request has none), each as
  one JSON line {"name", "description", "parameters"}, with the instruction to call them by
  replying with only {"name": ..., "arguments": {...}} (or a JSON list of such objects);
- an assistant message with tool_calls becomes an assistant turn holding that same JSON (after
  the message's text, if any), so the model sees its own calls as it is told to write them;
- a tool message becomes a user turn "Result of <name> (call <id>): <content>"; the results of
  one round of calls share one user turn, as templates that alternate roles need.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from server.tools.schemas import Tool, ToolCall

CALL_INSTRUCTIONS = (
    "To call one of these functions, reply with only a JSON object "
    '{"name": <function name>, "arguments": <the arguments as a JSON object>}, or with a JSON '
    "list of such objects to call several. Otherwise answer normally."
)


def tools_instructions(tools: Sequence[Tool]) -> str:
    lines = ["You can call these functions:"]
    for tool in tools:
        function = tool.function
        entry = {"name": function.name, "parameters": function.parameters}
        if function.description:
            entry["description"] = function.description
        lines.append(json.dumps(entry, separators=(", ", ": ")))
    lines.append(CALL_INSTRUCTIONS)
    return "\n".join(lines)


def calls_text(tool_calls: Sequence[ToolCall]) -> str:
    """An assistant's calls as the JSON the model is asked to write."""
    calls = [
        {"name": call.function.name, "arguments": _arguments(call.function.arguments)}
        for call in tool_calls
    ]
    payload: object = calls[0] if len(calls) == 1 else calls
    return json.dumps(payload, separators=(", ", ": "))


def tool_result_text(content: str, call_id: str, name: str | None) -> str:
    called = f"{name} (call {call_id})" if name else f"call {call_id}"
    return f"Result of {called}: {content}"


def _arguments(arguments: str) -> object:
    # A client may send back arguments that are not JSON; they are shown as they are.
    try:
        return json.loads(arguments)
    except json.JSONDecodeError:
        return arguments
