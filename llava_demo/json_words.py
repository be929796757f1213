"""Tokens of their own for the words a JSON description writes with no space before them.

A tokenizer learnt from the demo's text sees "green" only after a space: " green" is one token,
whose meaning the model learnt. Inside JSON (`"colour":"green"`) the same word falls apart into
pieces ("g", "reen") that the model has never used for a colour, so a run that teaches JSON to
a trained model must learn a new way to name every colour, shape and row from its first piece:
continued for 3000 steps, it still guessed each colour among two or three (log-probability
about -1.3) and described a quarter of fresh scenes right. With a token of its own, embedded
(input and output) as its spaced twin, each word starts from what the model knows.

The new tokens come from BPE merges appended after the learnt ones, so they apply only where
the learnt merges leave the word's pieces side by side: text that never writes these words
unspaced tokenizes as before (tests/test_demo_json_words.py checks the training texts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

import torch
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from llava_demo.model import DemoLlava, wrap_tokenizer
from llava_demo.scenes import COLOURS, ROWS, SHAPES

# Every value of the JSON description's fields, up to its first space ("top left" is written
# "top" + " left", whose second token the model knows).
JSON_WORDS: Final = (*COLOURS, *SHAPES, *ROWS, "center")
SPACE: Final = "Ġ"  # how the byte-level BPE spells a leading space


def with_word_tokens(serialized: str, words: Sequence[str]) -> str:
    """The tokenizer (serialized) with merges that make each word one token; words that are
    one token already are left alone."""
    data = json.loads(serialized)
    vocab: dict[str, int] = data["model"]["vocab"]
    merges: list[list[str]] = data["model"]["merges"]
    tokenizer = Tokenizer.from_str(serialized)
    next_id = tokenizer.get_vocab_size(with_added_tokens=True)
    for word in words:
        pieces = [token.value for token in tokenizer.model.tokenize(word)]
        joined = pieces[0]
        for piece in pieces[1:]:  # left to right: "c" "ir" "cle" -> "cir" -> "circle"
            merges.append([joined, piece])
            joined += piece
            if joined not in vocab:
                vocab[joined] = next_id
                next_id += 1
    return json.dumps(data)


def add_word_tokens(
    tokenizer: PreTrainedTokenizerFast, model: DemoLlava, words: Sequence[str] = JSON_WORDS
) -> PreTrainedTokenizerFast:
    """A tokenizer with the words' tokens, and the model's embeddings and output rows grown to
    match, each new word's rows copied from its spaced twin (" green" for "green")."""
    serialized = tokenizer.backend_tokenizer.to_str()
    extended = wrap_tokenizer(Tokenizer.from_str(with_word_tokens(serialized, words)))
    if len(extended) == len(tokenizer):
        return tokenizer
    old_vocab = tokenizer.get_vocab()
    model.llm.resize_token_embeddings(len(extended), mean_resizing=False)
    embeddings = model.llm.get_input_embeddings().weight
    outputs = model.llm.get_output_embeddings().weight
    with torch.no_grad():
        for token, index in extended.get_vocab().items():
            if token in old_vocab:
                continue
            twin = old_vocab.get(SPACE + token)
            if twin is None:  # an intermediate piece ("cir"): never a word's last step
                continue
            embeddings[index] = embeddings[twin]
            outputs[index] = outputs[twin]
    return extended
