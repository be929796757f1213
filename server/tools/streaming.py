"""Tool calls in a stream: the output is held back until it is known to be calls or text.

A forced call (`required` or a named function) is always calls: held to the end, then sent as
calls. Under `auto` the output is text unless it starts with `{` or `[`: text streams as it
comes; JSON is held to the end and sent as calls if it reads as calls, else as text. Events
are API-neutral, so the chat and Responses APIs can shape them their own way.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.tools.calls import ParsedCall, ToolCallReader


@dataclass(frozen=True)
class TextEvent:
    text: str


@dataclass(frozen=True)
class CallsEvent:
    calls: list[ParsedCall]


@dataclass(frozen=True)
class FinishEvent:
    reason: str


StreamEvent = TextEvent | CallsEvent | FinishEvent


@dataclass
class ToolCallStream:
    """The state of one choice's stream."""

    reader: ToolCallReader
    held: str = ""
    passing_text: bool = False

    def feed(self, text: str, finish_reason: str | None) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if self.passing_text:
            if text:
                events.append(TextEvent(text))
        else:
            self.held += text
            if self._looks_like_text():
                self.passing_text = True
                events.append(TextEvent(self.held))
        if finish_reason is not None:
            events += self._finish(finish_reason)
        return events

    def _looks_like_text(self) -> bool:
        start = self.held.lstrip()
        return self.reader.choice == "auto" and bool(start) and start[0] not in "{["

    def _finish(self, finish_reason: str) -> list[StreamEvent]:
        if self.passing_text:
            return [FinishEvent(finish_reason)]
        read = self.reader.read(self.held, finish_reason)
        reason = read.finish_reason or finish_reason
        if read.calls:
            return [CallsEvent(read.calls), FinishEvent(reason)]
        return [TextEvent(self.held), FinishEvent(reason)] if self.held else [FinishEvent(reason)]
