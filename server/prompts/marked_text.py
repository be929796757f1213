"""Client texts replaced by markers in a rendered prompt, so that a builder can tell which
characters a client typed (they stay plain text) from those its template wrote."""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from server.errors import BadRequestError


@dataclass(frozen=True)
class MarkedText:
    """A rendering whose client texts are markers (unguessable: a fresh nonce each time)."""

    nonce: str
    by_marker: dict[str, str]  # marker -> the client text it stands for
    rendered: str = ""

    @classmethod
    def for_texts(cls, texts: list[str]) -> MarkedText:
        nonce = uuid.uuid4().hex
        markers = [f"\x00{nonce}:{index}\x00" for index in range(len(texts))]
        return cls(nonce, dict(zip(markers, texts, strict=True)))

    def with_rendering(self, rendered: str) -> MarkedText:
        return MarkedText(self.nonce, self.by_marker, rendered)


class LiteralTokens:
    """A tokenizer's special tokens, told apart in a marked rendering: the template's become
    their ids, a client's text is tokenized with special-token matching off."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self._tokenizer = tokenizer

    def client_forms_special_tokens(self, rendered: str, marked: MarkedText) -> bool:
        """Whether the client's text puts a special token in the prompt: typed whole, or
        formed with a neighbouring part or with the template's text ("</" + "s>"). The special
        tokens found differ from those of the rendering whose client texts are markers."""
        if not self._special_strings:
            return False
        specials = self._special_pattern
        return specials.findall(rendered) != specials.findall(marked.rendered)

    @functools.cached_property
    def _special_pattern(self) -> re.Pattern[str]:
        return re.compile("|".join(re.escape(token) for token in self._special_strings))

    @functools.cached_property
    def _special_strings(self) -> list[str]:
        """Every added/special token string, longest first (so the longest match wins)."""
        tokens = set(self._tokenizer.get_added_vocab()) | set(self._tokenizer.all_special_tokens)
        return sorted(tokens, key=len, reverse=True)

    def literal_ids(self, rendered: str, marked: MarkedText) -> list[int]:
        """Ids of (part of) a marked rendering, no BOS added."""
        pieces = _pieces(rendered, marked.by_marker, self._special_strings)
        if any(marked.nonce in piece for piece, is_special in pieces if not is_special):
            raise BadRequestError("The chat template altered the message text; cannot build.")
        ids: list[int] = []
        for piece, is_special in pieces:
            if is_special:
                ids.append(int(self._tokenizer.convert_tokens_to_ids(piece)))
            else:
                ids += self._tokenizer(piece, add_special_tokens=False, split_special_tokens=True)[
                    "input_ids"
                ]
        return ids


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
