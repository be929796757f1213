"""Ground-truth scoring of an answer by its colour, shape, count and position words.

Each sentence of an answer becomes the tuple of its key words in order (positions such as
"top left" count as one word, plurals as their singular); an answer is right when the multiset
of its sentences' tuples equals the expected answer's. Wording around the key words is free;
a wrong colour, shape, count, position, yes/no or relation is wrong.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Final

from llava_demo.instructions import OUT_OF_WORLD_ANSWER
from llava_demo.scenes import COLOURS, SHAPES

_WORDS: Final = (
    r"(?:top|middle|bottom) (?:left|center|right)",
    "center",
    *COLOURS,
    *(f"{shape}s?" for shape in SHAPES),
    "zero",
    "one",
    "two",
    "three",
    "yes",
    "no",
    "nothing",
    "left",
    "right",
    "higher",
    "lower",
    "above",
    "below",
)
_KEY_WORD: Final = re.compile(r"\b(?:" + "|".join(_WORDS) + r")\b")
_SENTENCE_END: Final = re.compile(r"[.!?]+")


def _normal(word: str) -> str:
    return word[:-1] if word.endswith("s") and word[:-1] in SHAPES else word


def key_words(answer: str) -> Counter[tuple[str, ...]]:
    sentences = [part for part in _SENTENCE_END.split(answer.lower()) if part.strip()]
    return Counter(
        tuple(_normal(word) for word in _KEY_WORD.findall(sentence)) for sentence in sentences
    )


def is_refusal(answer: str) -> bool:
    """Says what it can answer, and claims nothing about a picture."""
    words = key_words(answer)
    return "only answer questions about" in answer.lower() and set(words) == {()}


def is_correct(answer: str, expected: str) -> bool:
    if expected == OUT_OF_WORLD_ANSWER:
        return is_refusal(answer)
    return key_words(answer) == key_words(expected)
