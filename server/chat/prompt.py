"""Chat messages -> prompt token ids with one image placeholder per image, via a chat template."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from server.chat.schemas import ChatMessage, ImagePart
from server.errors import BadRequestError, ConfigError


@dataclass(frozen=True)
class Prompt:
    token_ids: list[int]
    image_urls: list[str]
    tokens_per_image: int

    @property
    def engine_length(self) -> int:
        """Length once the engine expands each image placeholder into the image's tokens."""
        return len(self.token_ids) + len(self.image_urls) * (self.tokens_per_image - 1)


class PromptBuilder:
    """Renders messages with a Jinja chat template: the checkpoint's, or model.yaml's."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, chat_template: str, tokens_per_image: int
    ):
        self.tokenizer = tokenizer
        self._chat_template = chat_template
        self.tokens_per_image = tokens_per_image

    @classmethod
    def for_hf_checkpoint(cls, checkpoint: Path, template_file: Path | None) -> PromptBuilder:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        template = template_file.read_text() if template_file else tokenizer.chat_template
        if not template:
            raise ConfigError(
                f"{checkpoint} ships no chat template; set chat_template in model.yaml"
            )
        return cls(tokenizer, template, hf_tokens_per_image(checkpoint))

    def build(self, messages: list[ChatMessage]) -> Prompt:
        text = self.tokenizer.apply_chat_template(
            [_template_message(message) for message in messages],
            chat_template=self._chat_template,
            tokenize=False,
            add_generation_prompt=True,
        )
        image_urls = [
            part.image_url.url
            for message in messages
            if isinstance(message.content, list)
            for part in message.content
            if isinstance(part, ImagePart)
        ]
        prompt = Prompt(self._tokenize(text), image_urls, self.tokens_per_image)
        self._check_placeholders(prompt)
        return prompt

    def _tokenize(self, text: str) -> list[int]:
        # Templates that write the BOS token themselves must not get a second one.
        bos = self.tokenizer.bos_token
        add_special = not (bos and text.startswith(bos))
        ids: list[int] = self.tokenizer(text, add_special_tokens=add_special)["input_ids"]
        return ids

    def _check_placeholders(self, prompt: Prompt) -> None:
        image_token_id = self.tokenizer.convert_tokens_to_ids(self._image_token)
        found = prompt.token_ids.count(image_token_id)
        if found != len(prompt.image_urls):
            raise BadRequestError(
                f"The prompt has {found} image placeholder(s) "
                f"for {len(prompt.image_urls)} image(s)."
            )

    @property
    def _image_token(self) -> str:
        return str(getattr(self.tokenizer, "image_token", None) or "<image>")


def _template_message(message: ChatMessage) -> dict[str, Any]:
    """Our message -> the HF template format: images as {"type": "image"} parts in place."""
    if isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, str]] = [
        {"type": "image"} if isinstance(part, ImagePart) else {"type": "text", "text": part.text}
        for part in message.content
    ]
    return {"role": message.role, "content": parts}


def hf_tokens_per_image(checkpoint: Path) -> int:
    """Image tokens per image of a llava-hf checkpoint: one per CLIP patch (+1 with the CLS one)."""
    config = json.loads((checkpoint / "config.json").read_text())
    vision = config["vision_config"]
    patches = (vision["image_size"] // vision["patch_size"]) ** 2
    strategy = config.get("vision_feature_select_strategy", "default")
    return int(patches) + 1 if strategy == "full" else int(patches)
