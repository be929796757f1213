"""How an answer's text starts: without the space it was generated with, for models whose
entry asks for it, and after the echoed final message, for requests that ask for echo.

A LLaMA-style tokenizer spells a word with its leading space, so after a prompt ending in
"###Assistant:" the first token decodes as " The". The LLaVA authors' serving and evaluation
code strips each output; a model entry with `strip_leading_space: true` gets the same answer
text here, in full responses and streams alike (a stream drops whitespace until the first
other character of each choice). Tokens, logprobs and usage are unchanged. vLLM's `echo` puts
the final (assistant) message's text before each choice's answer, in its first piece.
"""

from __future__ import annotations


class AnswerStart:
    """One response's state: which choices have shown text already."""

    def __init__(self, strip: bool, echoed: str = ""):
        self._strip = strip
        self._echoed = echoed
        self._started: set[int] = set()

    def text(self, index: int, piece: str) -> str:
        """The piece of choice `index`'s text to send."""
        if index in self._started:
            return piece
        kept = piece.lstrip() if self._strip else piece
        if not kept and self._strip:
            return kept  # whitespace only: the answer has not started yet
        self._started.add(index)
        return self._echoed + kept
