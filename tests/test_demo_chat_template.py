"""The llava-hf export's Jinja template renders what the server's llava_v0 conversation does."""

from __future__ import annotations

import jinja2
import pytest

from llava_demo.chat_template import llava_v0_template
from server.prompts.conversations import CONVERSATIONS, user_turn_text

IMAGE = {"type": "image_url", "image_url": {"url": "data:,"}}


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


CASES = [
    ([{"role": "user", "content": [IMAGE, text("What colour is the circle?")]}], None),
    ([{"role": "user", "content": [text("Describe it."), IMAGE]}], None),
    ([{"role": "user", "content": "No image."}], None),
    (
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [IMAGE, text("a"), text("b")]},
            {"role": "assistant", "content": "An answer."},
            {"role": "user", "content": [text("And now?")]},
        ],
        "Be brief.",
    ),
]


def expected(messages: list[dict[str, object]], system: str | None, after: bool) -> str:
    turns = []
    for message in messages:
        if message["role"] == "system":
            continue
        content = message["content"]
        parts = [text(content)] if isinstance(content, str) else content
        assert isinstance(parts, list)
        texts = [part["text"] for part in parts if part["type"] == "text"]
        images = sum(part["type"] == "image_url" for part in parts)
        turns.append(user_turn_text(texts, images, False, after))
    return "<s>" + CONVERSATIONS["llava_v0"].render(turns, system)


@pytest.mark.parametrize("after", [False, True])
@pytest.mark.parametrize(("messages", "system"), CASES)
def test_template_matches_the_conversation(
    messages: list[dict[str, object]], system: str | None, after: bool
) -> None:
    template = jinja2.Environment().from_string(llava_v0_template(after))
    rendered = template.render(messages=messages, add_generation_prompt=True)
    assert rendered == expected(messages, system, after)
