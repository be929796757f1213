"""Request messages -> the messages a conversation template renders: `developer` is a system
message, and tools and tool history are written as text (server/tools/prompt.py)."""

from __future__ import annotations

from collections.abc import Sequence

from server.chat.schemas import ChatMessage, ImagePart, InputMessage, TextPart
from server.tools.prompt import calls_text, tool_result_text, tools_instructions
from server.tools.schemas import Tool


def template_messages(messages: Sequence[InputMessage], tools: Sequence[Tool]) -> list[ChatMessage]:
    names = _call_names(messages)
    rendered: list[ChatMessage] = []
    after_tool = False
    for message in messages:
        converted = _convert(message, names)
        from_tool = message.role == "tool"
        if rendered and rendered[-1].role == converted.role == "user" and (from_tool or after_tool):
            # Results of one round of calls (and a user message after them) make one user
            # turn: templates that alternate roles need that.
            rendered[-1] = _joined(rendered[-1], converted)
        else:
            rendered.append(converted)
        after_tool = from_tool
    if tools:
        rendered = _with_tools(rendered, tools_instructions(tools))
    return rendered


def echoed_text(messages: Sequence[ChatMessage]) -> str:
    """What vLLM's echo sends before the answer: the final message's text, if the assistant's
    (the role the answer has), else nothing."""
    final = messages[-1] if messages else None
    if final is None or final.role != "assistant":
        return ""
    return _plain(final)


def _convert(message: InputMessage, call_names: dict[str, str]) -> ChatMessage:
    if message.role == "developer":
        return ChatMessage(role="system", content=_text(message), name=message.name)
    if message.role == "tool":
        call_id = message.tool_call_id or ""
        text = tool_result_text(_text(message), call_id, call_names.get(call_id))
        return ChatMessage(role="user", content=text)
    if message.role == "assistant" and message.tool_calls:
        text = "\n".join(part for part in (_text(message), calls_text(message.tool_calls)) if part)
        return ChatMessage(role="assistant", content=text, name=message.name)
    assert message.content is not None  # InputMessage checked it
    return ChatMessage(role=message.role, content=message.content, name=message.name)


def _call_names(messages: Sequence[InputMessage]) -> dict[str, str]:
    """tool_call_id -> the function it called, from the assistant messages of the history."""
    return {
        call.id: call.function.name for message in messages for call in message.tool_calls or ()
    }


def _text(message: InputMessage) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(part.text for part in message.content if isinstance(part, TextPart))


def _joined(first: ChatMessage, second: ChatMessage) -> ChatMessage:
    parts = [*_parts(first), *_parts(second)]
    return ChatMessage(role=first.role, content=parts, name=first.name)


def _parts(message: ChatMessage) -> list[TextPart | ImagePart]:
    if isinstance(message.content, str):
        return [TextPart(type="text", text=message.content)]
    return list(message.content)


def _with_tools(messages: list[ChatMessage], instructions: str) -> list[ChatMessage]:
    """The tools' description appended to the system message, or in a new first one."""
    if messages and messages[0].role == "system":
        first = messages[0]
        text = "\n\n".join(filter(None, [_plain(first), instructions]))
        return [ChatMessage(role="system", content=text, name=first.name), *messages[1:]]
    return [ChatMessage(role="system", content=instructions), *messages]


def _plain(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    return "\n".join(part.text for part in message.content if isinstance(part, TextPart))
