"""Too many images are refused from a count of the request's parts, before the prompt is
rendered and tokenized (16,384 image parts took 2 s of rendering before their refusal)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from server.chat.schemas import ChatCompletionRequest, ChatMessage
from server.chat.service import ChatService
from server.errors import BadRequestError
from server.model_repo import resolve_model
from server.prompts.base import Prompt
from server.prompts.ending import PromptEnding
from server.prompts.hf import HfPromptBuilder
from server.settings import REPO_MODEL_DIR


class CountingBuilder(HfPromptBuilder):
    """The real builder, counting how often a prompt is built."""

    builds = 0

    def build(
        self, messages: list[ChatMessage], ending: PromptEnding = PromptEnding.GENERATION_PROMPT
    ) -> Prompt:
        self.builds += 1
        return super().build(messages, ending)


def test_image_parts_are_counted_before_the_prompt_is_built(tiny_checkpoint: Path) -> None:
    spec = resolve_model("tiny-llava-hf", REPO_MODEL_DIR)
    builder = CountingBuilder.for_hf_checkpoint(tiny_checkpoint, None)
    # Never reached: the engine and the media loader come after the count.
    engine: Any = SimpleNamespace(check_structured_outputs=None, max_model_len=4096)
    chat = ChatService(engine, builder, None, spec, spec.name)  # type: ignore[arg-type]
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    message = {"role": "user", "content": [part] * 64}
    request = ChatCompletionRequest.model_validate(
        {"model": spec.name, "messages": [message] * 256}
    )
    with pytest.raises(BadRequestError, match="16384 images"):
        asyncio.run(chat.prepare(request, "chatcmpl-count"))
    assert isinstance(builder, CountingBuilder) and builder.builds == 0
