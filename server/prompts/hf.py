"""The hf format's prompts: chat messages rendered with a Jinja chat template (the checkpoint's,
or model.yaml's), tokenized with one image placeholder per image."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from server.chat.schemas import ChatMessage, ImagePart
from server.errors import BadRequestError, ConfigError
from server.prompts.base import Prompt


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

    def build(self, messages: list[ChatMessage]) -> Prompt:
        """Token ids whose image slots come only from real image parts: text a client typed
        (e.g. a literal "<image>" or "</s>") is tokenized as plain text, never as special tokens."""
        image_urls = [
            part.image_url.url
            for message in messages
            if isinstance(message.content, list)
            for part in message.content
            if isinstance(part, ImagePart)
        ]
        texts = _client_texts(messages)
        text = self._render([_template_message(message) for message in messages])
        token_ids = self._tokenize(text)
        if self._mentions_special_token(texts) or self._image_slots(token_ids) != len(image_urls):
            # Rare path: keep the client's text literal, segment by segment.
            token_ids = self._tokenize_literal(messages, texts, add_special=self._adds_bos(text))
        prompt = Prompt(token_ids, image_urls, self.tokens_per_image)
        self._check_placeholders(prompt)
        return prompt

    def _render(self, template_messages: list[dict[str, Any]]) -> str:
        text: str = self.tokenizer.apply_chat_template(
            template_messages,
            chat_template=self._chat_template,
            tokenize=False,
            add_generation_prompt=True,
        )
        return text

    def _adds_bos(self, text: str) -> bool:
        # Templates that write the BOS token themselves must not get a second one.
        bos = self.tokenizer.bos_token
        return not (bos and text.startswith(bos))

    def _tokenize(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=self._adds_bos(text))["input_ids"]
        return ids

    def _mentions_special_token(self, texts: list[str]) -> bool:
        return any(token in text for token in self._special_strings for text in texts)

    @property
    def _special_strings(self) -> list[str]:
        """Every added/special token string, longest first (so the longest match wins)."""
        tokens = set(self.tokenizer.get_added_vocab()) | set(self.tokenizer.all_special_tokens)
        return sorted(tokens, key=len, reverse=True)

    def _tokenize_literal(
        self, messages: list[ChatMessage], texts: list[str], add_special: bool
    ) -> list[int]:
        """Renders with a marker in place of each client text, so the template's own special
        tokens (BOS, image slots, turn ends) are told apart from the client's; the template's
        become their ids, the client's text is tokenized with special-token matching off."""
        nonce = uuid.uuid4().hex
        markers = [f"\x00{nonce}:{index}\x00" for index in range(len(texts))]
        replaced = iter(markers)
        template_messages = [_template_message(m, lambda _: next(replaced)) for m in messages]
        rendered = self._render(template_messages)
        by_marker = dict(zip(markers, texts, strict=True))
        ids: list[int] = []
        if add_special:
            ids += self.tokenizer("", add_special_tokens=True)["input_ids"]
        pieces = _pieces(rendered, by_marker, self._special_strings)
        if any(nonce in piece for piece, is_special in pieces if not is_special):
            raise BadRequestError("The chat template altered the message text; cannot build.")
        for piece, is_special in pieces:
            if is_special:
                ids.append(int(self.tokenizer.convert_tokens_to_ids(piece)))
            else:
                ids += self.tokenizer(piece, add_special_tokens=False, split_special_tokens=True)[
                    "input_ids"
                ]
        return ids

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


def _pieces(
    rendered: str, client_texts: dict[str, str], special: list[str]
) -> list[tuple[str, bool]]:
    """(text, is_special) pieces: the template's special tokens split out of its own text,
    client texts kept whole and plain; adjacent plain pieces joined so they tokenize together."""
    markers = "|".join(re.escape(marker) for marker in client_texts)
    specials = "|".join(re.escape(token) for token in special)
    pieces: list[tuple[str, bool]] = []
    for chunk in re.split(f"({markers})", rendered) if markers else [rendered]:
        if chunk in client_texts:
            pieces.append((client_texts[chunk], False))
            continue
        for index, part in enumerate(re.split(f"({specials})", chunk) if specials else [chunk]):
            pieces.append((part, index % 2 == 1))
    joined: list[tuple[str, bool]] = []
    for text, is_special in pieces:
        if joined and not is_special and not joined[-1][1]:
            joined[-1] = (joined[-1][0] + text, False)
        elif text or is_special:
            joined.append((text, is_special))
    return joined


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
