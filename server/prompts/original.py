"""The original format's prompts: chat messages -> token ids as the original code builds them.

The messages are rendered with an original conversation template (conversations.py)
and tokenized like llava/mm_utils.py's tokenizer_image_token: the text is split at each
"<image>", each piece is tokenized on its own with the tokenizer's <s>, which is kept only
for the first piece, and one image placeholder id goes between pieces.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

from transformers import AutoTokenizer, CLIPVisionConfig, PreTrainedTokenizerBase

from server.chat.schemas import ChatMessage, ImagePart, TextPart
from server.errors import BadRequestError
from server.llava.config import DEFAULT_IMAGE_TOKEN_ID, SELECT_FEATURES
from server.prompts.base import Prompt
from server.prompts.conversations import (
    CONVERSATIONS,
    IM_END,
    IM_START,
    IMAGE_PLACEHOLDER,
    Conversation,
    ImagePlacement,
    turn_texts,
)
from server.prompts.ending import PromptEnding
from server.prompts.marked_text import LiteralTokens, MarkedText


class OriginalPromptBuilder:
    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        conversation: Conversation,
        use_im_start_end: bool,
        tokens_per_image: int,
        image_placement: ImagePlacement = "before_text",
    ):
        self.tokenizer = tokenizer
        self.tokens_per_image = tokens_per_image
        self._conversation = conversation
        self._use_im_start_end = use_im_start_end
        self._image_placement = image_placement

    @classmethod
    def for_original_checkpoint(
        cls,
        checkpoint: Path,
        vision_tower: Path,
        conversation: str,
        image_placement: ImagePlacement = "before_text",
    ) -> OriginalPromptBuilder:
        config = json.loads((checkpoint / "config.json").read_text())
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        _add_original_tokens(tokenizer, config)
        return cls(
            tokenizer,
            CONVERSATIONS[conversation],
            bool(config.get("mm_use_im_start_end", False)),
            original_tokens_per_image(config, vision_tower),
            image_placement,
        )

    @property
    def image_token_id(self) -> int:
        return DEFAULT_IMAGE_TOKEN_ID

    def build(
        self, messages: list[ChatMessage], ending: PromptEnding = PromptEnding.GENERATION_PROMPT
    ) -> Prompt:
        """As the original code builds it, except that text a client typed (a "</s>", an
        "<image>") stays plain text: then the client's text is tokenized literally."""
        system, turns = _split_turns(messages, ending)
        image_urls = [url for message in turns for url in _image_urls(message)]
        text = self._render_conversation(system, turns, ending)
        token_ids = self.tokenize_with_images(text)
        marked = MarkedText.for_texts([t for m in system + turns for t in _texts(m) if t])
        markers = iter(marked.by_marker)
        marked = marked.with_rendering(
            self._render_conversation(system, turns, ending, lambda t: next(markers) if t else t)
        )
        slots_wrong = token_ids.count(DEFAULT_IMAGE_TOKEN_ID) != len(image_urls)
        if slots_wrong or self._literal.client_forms_special_tokens(text, marked):
            token_ids = self._tokenize_literal_with_images(marked)
        found = token_ids.count(DEFAULT_IMAGE_TOKEN_ID)
        if found != len(image_urls):
            raise BadRequestError(
                f"The prompt has {found} image placeholder(s) for {len(image_urls)} image(s)."
            )
        return Prompt(token_ids, image_urls, self.tokens_per_image)

    @functools.cached_property
    def _literal(self) -> LiteralTokens:
        return LiteralTokens(self.tokenizer)

    def _render_conversation(
        self,
        system: list[ChatMessage],
        turns: list[ChatMessage],
        ending: PromptEnding,
        text_of: Callable[[str], str] = lambda text: text,
    ) -> str:
        """The conversation template's text; text_of may swap each client text for a marker."""
        system_texts = [text_of(text) for message in system for text in _texts(message)]
        rendered_turns = turn_texts(
            [[text_of(text) for text in _texts(message)] for message in turns],
            [len(_image_urls(message)) for message in turns],
            self._use_im_start_end,
            self._image_placement,
        )
        system_text = "\n".join(system_texts) if system else None
        return self._conversation.render(rendered_turns, system_text, ending)

    def _tokenize_literal_with_images(self, marked: MarkedText) -> list[int]:
        """tokenize_with_images on the marked rendering, the client's texts tokenized literally."""
        ids: list[int] = self.tokenizer("", add_special_tokens=True).input_ids  # the <s>
        for index, piece in enumerate(marked.rendered.split(IMAGE_PLACEHOLDER)):
            if index > 0:
                ids.append(DEFAULT_IMAGE_TOKEN_ID)
            ids += self._literal.literal_ids(piece, marked)
        return ids

    def tokenize_with_images(self, text: str) -> list[int]:
        """tokenizer_image_token: pieces between "<image>"s, one placeholder id for each."""
        bos = self.tokenizer.bos_token_id
        ids: list[int] = []
        for index, piece in enumerate(text.split(IMAGE_PLACEHOLDER)):
            piece_ids: list[int] = self.tokenizer(piece).input_ids
            if index > 0:
                ids.append(DEFAULT_IMAGE_TOKEN_ID)
                if piece_ids and piece_ids[0] == bos:
                    piece_ids = piece_ids[1:]
            ids += piece_ids
        return ids


def _add_original_tokens(tokenizer: PreTrainedTokenizerBase, config: dict[str, object]) -> None:
    """As the original load_pretrained_model does: the image tokens the config asks for are
    added when the saved tokenizer lacks them (the checkpoint's embeddings already have them)."""
    wanted = ["<im_patch>"] if config.get("mm_use_im_patch_token") else []
    wanted += [IM_START, IM_END] if config.get("mm_use_im_start_end") else []
    missing = [token for token in wanted if token not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)


def original_tokens_per_image(config: dict[str, object], vision_tower: Path) -> int:
    """Patches of the tower's grid, +1 when mm_vision_select_feature keeps the CLS token."""
    vision = CLIPVisionConfig.from_pretrained(vision_tower)
    patches = (vision.image_size // vision.patch_size) ** 2
    feature = str(config.get("mm_vision_select_feature", "patch"))
    return int(patches) + 1 if SELECT_FEATURES.get(feature) == "full" else int(patches)


def _split_turns(
    messages: list[ChatMessage], ending: PromptEnding
) -> tuple[list[ChatMessage], list[ChatMessage]]:
    """The system messages and the user/assistant turns, which must alternate and end as the
    prompt's ending needs."""
    system = [message for message in messages if message.role == "system"]
    turns = [message for message in messages if message.role != "system"]
    for index, message in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if message.role != expected:
            raise BadRequestError(
                "This model's conversation template needs user and assistant messages in "
                f"turn, starting with a user message; message {index} is from {message.role}.",
                param="messages",
            )
    if ending is PromptEnding.GENERATION_PROMPT and (not turns or turns[-1].role != "user"):
        raise BadRequestError("The last message must be a user message.", param="messages")
    if ending is PromptEnding.CONTINUE and (not turns or turns[-1].role != "assistant"):
        raise BadRequestError(
            "continue_final_message needs the last message to be an assistant message.",
            param="messages",
        )
    return system, turns


def _texts(message: ChatMessage) -> list[str]:
    if isinstance(message.content, str):
        return [message.content]
    return [part.text for part in message.content if isinstance(part, TextPart)]


def _image_urls(message: ChatMessage) -> list[str]:
    if isinstance(message.content, str):
        return []
    return [part.image_url.url for part in message.content if isinstance(part, ImagePart)]
