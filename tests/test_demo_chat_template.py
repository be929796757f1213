"""The llava-hf export's Jinja template renders what the server's llava_v0 conversation does."""

from __future__ import annotations

import jinja2
import jinja2.sandbox
import pytest

from llava_demo.chat_template import llava_v0_template
from server.model_repo import resolve_model
from server.prompts.conversations import CONVERSATIONS, ImagePlacement, turn_texts
from server.settings import REPO_MODEL_DIR

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
    (
        [
            {"role": "user", "content": [IMAGE, text("a")]},
            {"role": "assistant", "content": [text("b")]},
            {"role": "user", "content": [text("c"), IMAGE]},
            {"role": "assistant", "content": "d"},
            {"role": "user", "content": "e"},
        ],
        None,
    ),
]


def expected(
    messages: list[dict[str, object]], system: str | None, placement: ImagePlacement
) -> str:
    texts, images = [], []
    for message in messages:
        if message["role"] == "system":
            continue
        content = message["content"]
        parts = [text(content)] if isinstance(content, str) else content
        assert isinstance(parts, list)
        texts.append([part["text"] for part in parts if part["type"] == "text"])
        images.append(sum(part["type"] == "image_url" for part in parts))
    turns = turn_texts(texts, images, False, placement)
    return "<s>" + CONVERSATIONS["llava_v0"].render(turns, system)


@pytest.mark.parametrize("placement", ["before_text", "after_text", "after_last_question"])
@pytest.mark.parametrize(("messages", "system"), CASES)
def test_template_matches_the_conversation(
    messages: list[dict[str, object]], system: str | None, placement: ImagePlacement
) -> None:
    """Rendered as transformers renders chat templates (a sandboxed environment)."""
    environment = jinja2.sandbox.ImmutableSandboxedEnvironment()
    template = environment.from_string(llava_v0_template(placement))
    rendered = template.render(messages=messages, add_generation_prompt=True)
    assert rendered == expected(messages, system, placement)


def test_the_committed_exports_lay_images_out_alike() -> None:
    """The llava-hf export's template is the one for the original export's image_placement."""
    placement = resolve_model("llava-demo", REPO_MODEL_DIR).image_placement
    committed = REPO_MODEL_DIR / "llava-demo-hf" / "weights" / "chat_template.jinja"
    assert committed.read_text() == llava_v0_template(placement)
