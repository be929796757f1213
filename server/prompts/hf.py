"""The hf format's prompts: chat messages rendered with a Jinja chat template (the checkpoint's,
or model.yaml's), tokenized with one image placeholder per image."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import TemplateError
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from server.chat.schemas import ChatMessage, ImagePart
from server.errors import BadRequestError, ConfigError
from server.prompts.base import Prompt
from server.prompts.ending import PromptEnding
from server.prompts.marked_text import LiteralTokens, MarkedText


class HfPromptBuilder:
    """Renders messages with a Jinja chat template: the checkpoint's, or model.yaml's."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, chat_template: str, tokens_per_image: int
    ):
        self.tokenizer = tokenizer
        self._chat_template = chat_template
        self.tokens_per_image = tokens_per_image

    @classmethod
    def for_hf_checkpoint(cls, checkpoint: Path, template_file: Path | None) -> HfPromptBuilder:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        template = template_file.read_text() if template_file else tokenizer.chat_template
        if not template:
            raise ConfigError(
                f"{checkpoint} ships no chat template; set chat_template in model.yaml"
            )
        return cls(tokenizer, template, hf_tokens_per_image(checkpoint))

    def build(
        self, messages: list[ChatMessage], ending: PromptEnding = PromptEnding.GENERATION_PROMPT
    ) -> Prompt:
        """Token ids whose image slots come only from real image parts: text a client typed
        (e.g. a literal "<image>" or "</s>") is tokenized as plain text, never as special tokens."""
        image_urls = [
            part.image_url.url
            for message in messages
            if isinstance(message.content, list)
            for part in message.content
            if isinstance(part, ImagePart)
        ]
        text = self._render([_template_message(message) for message in messages], ending)
        marked = self._render_marked(messages, ending)
        token_ids = self._tokenize(text)
        slots_wrong = self._image_slots(token_ids) != len(image_urls)
        if slots_wrong or self._literal.client_forms_special_tokens(text, marked):
            # Rare path: keep the client's text literal, segment by segment.
            token_ids = self._tokenize_literal(marked, add_special=self._adds_bos(text))
        prompt = Prompt(token_ids, image_urls, self.tokens_per_image)
        self._check_placeholders(prompt)
        return prompt

    def _render(self, template_messages: list[dict[str, Any]], ending: PromptEnding) -> str:
        try:
            text: str = self.tokenizer.apply_chat_template(
                template_messages,
                chat_template=self._chat_template,
                tokenize=False,
                add_generation_prompt=ending is PromptEnding.GENERATION_PROMPT,
                continue_final_message=ending is PromptEnding.CONTINUE,
            )
        except (ValueError, TemplateError) as error:  # the template's own refusals, too
            raise BadRequestError(f"The chat template cannot render this: {error}") from error
        return text

    def _adds_bos(self, text: str) -> bool:
        # Templates that write the BOS token themselves must not get a second one.
        bos = self.tokenizer.bos_token
        return not (bos and text.startswith(bos))

    def _tokenize(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=self._adds_bos(text))["input_ids"]
        return ids

    @functools.cached_property
    def _literal(self) -> LiteralTokens:
        return LiteralTokens(self.tokenizer)

    def _render_marked(self, messages: list[ChatMessage], ending: PromptEnding) -> MarkedText:
        """The rendering with a marker in place of each client text, so the template's own
        special tokens (BOS, image slots, turn ends) can be told apart from the client's."""
        texts = _client_texts(messages)
        marked = MarkedText.for_texts(texts)
        replaced = iter(marked.by_marker)
        template_messages = [_template_message(m, lambda _: next(replaced)) for m in messages]
        return marked.with_rendering(self._render(template_messages, ending))

    def _tokenize_literal(self, marked: MarkedText, add_special: bool) -> list[int]:
        """The template's special tokens become their ids; the client's text is tokenized
        with special-token matching off."""
        ids: list[int] = []
        if add_special:
            ids += self.tokenizer("", add_special_tokens=True)["input_ids"]
        return ids + self._literal.literal_ids(marked.rendered, marked)

    def _image_slots(self, token_ids: list[int]) -> int:
        return token_ids.count(self.tokenizer.convert_tokens_to_ids(self._image_token))

    def _check_placeholders(self, prompt: Prompt) -> None:
        found = self._image_slots(prompt.token_ids)
        if found != len(prompt.image_urls):
            raise BadRequestError(
                f"The prompt has {found} image placeholder(s) "
                f"for {len(prompt.image_urls)} image(s).",
                param="messages",
            )

    @property
    def image_token_id(self) -> int:
        return int(self.tokenizer.convert_tokens_to_ids(self._image_token))

    @property
    def _image_token(self) -> str:
        return str(getattr(self.tokenizer, "image_token", None) or "<image>")


def _client_texts(messages: list[ChatMessage]) -> list[str]:
    """Every text the client wrote, in the order the template renders them."""
    texts: list[str] = []
    for message in messages:
        if isinstance(message.content, str):
            texts.append(message.content)
        else:
            texts += [part.text for part in message.content if not isinstance(part, ImagePart)]
    return texts


def _template_message(
    message: ChatMessage, text_of: Callable[[str], str] = lambda text: text
) -> dict[str, Any]:
    """Our message -> the HF template format: images as {"type": "image"} parts in place;
    text_of may swap each text for a marker."""
    if isinstance(message.content, str):
        return {"role": message.role, "content": text_of(message.content)}
    parts: list[dict[str, str]] = [
        {"type": "image"}
        if isinstance(part, ImagePart)
        else {"type": "text", "text": text_of(part.text)}
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
