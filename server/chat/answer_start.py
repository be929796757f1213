"""Drops the space an answer starts with, for models whose entry asks for it.

A LLaMA-style tokenizer spells a word with its leading space, so after a prompt ending in
"###Assistant:" the first token decodes as " The". The LLaVA authors' serving and evaluation
code strips each output; a model entry with `strip_leading_space: true` gets the same answer
text here, in full responses and streams alike (a stream drops whitespace until the first
other character of each choice). Tokens, logprobs and usage are unchanged.
"""

from __future__ import annotations


class AnswerStart:
    """One response's state: which choices have shown text already."""

    def __init__(self, strip: bool):
        self._strip = strip
        self._started: set[int] = set()

    def text(self, index: int, piece: str) -> str:
        """The piece of choice `index`'s text to send."""
        if not self._strip or index in self._started:
            return piece
        kept = piece.lstrip()
        if kept:
            self._started.add(index)
        return kept
