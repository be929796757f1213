"""Reading the model's output as tool calls: {"name", "arguments"} objects (or a list of them)
naming declared tools. Output that does not parse as calls stays text, never an error."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from server.tools.schemas import NamedToolChoice, Tool, ToolChoice


@dataclass(frozen=True)
class ParsedCall:
    id: str
    name: str
    arguments: str  # a JSON string, as OpenAI sends it


@dataclass(frozen=True)
class ToolOutput:
    """One choice's output, read: text, or calls (then content is None)."""

    content: str | None
    calls: list[ParsedCall]
    finish_reason: str | None


@dataclass(frozen=True)
class ToolCallReader:
    tools: list[Tool]
    choice: ToolChoice
    parallel: bool

    @property
    def names(self) -> set[str]:
        return {tool.function.name for tool in self.tools}

    def read(self, text: str, finish_reason: str | None) -> ToolOutput:
        calls = self.parse(text)
        if not calls:
            return ToolOutput(text, [], finish_reason)
        if not self.parallel:
            calls = calls[:1]
        # OpenAI ends a forced call of a named function with "stop", other calls "tool_calls".
        reason = "stop" if isinstance(self.choice, NamedToolChoice) else "tool_calls"
        return ToolOutput(None, calls, reason if finish_reason == "stop" else finish_reason)

    def parse(self, text: str) -> list[ParsedCall]:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            return []
        items = payload if isinstance(payload, list) else [payload]
        calls = [self._call(item) for item in items]
        if not calls or any(call is None for call in calls):
            return []
        return [call for call in calls if call is not None]

    def _call(self, item: Any) -> ParsedCall | None:
        if not isinstance(item, dict) or item.get("name") not in self.names:
            return None
        # Models told about "arguments" sometimes write "parameters": both are read.
        arguments = item.get("arguments", item.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                return None
        if not isinstance(arguments, dict):
            return None
        return ParsedCall(new_call_id(), str(item["name"]), json.dumps(arguments))


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def message_tool_calls(calls: list[ParsedCall]) -> list[dict[str, Any]]:
    """OpenAI's message.tool_calls."""
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in calls
    ]


def delta_tool_calls(calls: list[ParsedCall]) -> list[list[dict[str, Any]]]:
    """Stream deltas, OpenAI's shape: per call its index, id, type and name (arguments ""),
    then its arguments."""
    deltas: list[list[dict[str, Any]]] = []
    for index, call in enumerate(calls):
        head = {"index": index, "id": call.id, "type": "function"}
        deltas.append([{**head, "function": {"name": call.name, "arguments": ""}}])
        deltas.append([{"index": index, "function": {"arguments": call.arguments}}])
    return deltas
