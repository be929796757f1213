"""The JSON description's words get tokens of their own (llava_demo/json_words.py) without
changing how any other text tokenizes, and the model's rows for them start as their spaced
twins'."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from transformers import PreTrainedTokenizerFast

from llava_demo.instructions import STAGE2_KINDS, json_description, make_sample
from llava_demo.json_words import JSON_WORDS, add_word_tokens
from llava_demo.model import QUESTION_FIRST, DemoLlava, DemoShape, prompt_text, wrap_tokenizer
from llava_demo.phrasings import TRAINING, heldout_phrasebook
from llava_demo.scenes import generate_scene
from server.checkpoints.tokenizer import train_bpe_tokenizer

SMALL = DemoShape(text_hidden=64, text_layers=1, text_intermediate=128, text_head_dim=32)
UNSPACED = re.compile(rf"(?<! )\b({'|'.join(JSON_WORDS)})\b")


def training_texts(scenes: range) -> list[str]:
    """Prompts and answers of every kind, in training's and the held-out phrasings."""
    texts = []
    books = (TRAINING, heldout_phrasebook())
    for seed in scenes:
        scene = generate_scene(seed)
        for kind in ("caption", *STAGE2_KINDS):
            for book in books:
                sample = make_sample(scene, kind, seed, book)
                texts += [prompt_text(sample.turns, QUESTION_FIRST), sample.written_answer]
    return texts


@pytest.fixture(scope="module")
def text_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerFast:
    """Learnt from text alone (no JSON), as the committed model's first tokenizer was: the
    words come after a space, so unspaced they fall apart into pieces."""
    corpus = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    texts = [text for text in training_texts(range(300)) if not text.startswith("{")]
    corpus.write_text("\n".join(texts) + "\n")
    return wrap_tokenizer(train_bpe_tokenizer(corpus))


def test_each_word_becomes_one_token_and_other_text_tokenizes_as_before(
    text_tokenizer: PreTrainedTokenizerFast,
) -> None:
    split = [word for word in JSON_WORDS if len(text_tokenizer.tokenize(word)) > 1]
    assert split, "the test needs words that the text alone splits"
    model = DemoLlava(text_tokenizer, SMALL)
    extended = add_word_tokens(text_tokenizer, model)
    assert all(len(extended.tokenize(word)) == 1 for word in JSON_WORDS)
    description = json_description(generate_scene(1_000_000))
    assert len(extended(description).input_ids) < len(text_tokenizer(description).input_ids)
    untouched = [text for text in training_texts(range(1000, 1100)) if not UNSPACED.search(text)]
    assert len(untouched) > 1000
    for text in untouched:
        assert extended(text).input_ids == text_tokenizer(text).input_ids, text


def test_new_rows_start_as_the_spaced_twins_and_old_rows_are_kept(
    text_tokenizer: PreTrainedTokenizerFast,
) -> None:
    model = DemoLlava(text_tokenizer, SMALL)
    before_in = model.llm.get_input_embeddings().weight.detach().clone()
    before_out = model.llm.get_output_embeddings().weight.detach().clone()
    extended = add_word_tokens(text_tokenizer, model)
    after_in = model.llm.get_input_embeddings().weight
    after_out = model.llm.get_output_embeddings().weight
    old = len(text_tokenizer)
    assert model.llm.config.vocab_size == len(extended) == after_in.shape[0] > old
    assert torch.equal(after_in[:old], before_in) and torch.equal(after_out[:old], before_out)
    split = [word for word in JSON_WORDS if len(text_tokenizer.tokenize(word)) > 1]
    for word in split:  # a word already one token keeps its row
        (new,) = extended(word, add_special_tokens=False).input_ids
        (twin,) = text_tokenizer(" " + word, add_special_tokens=False).input_ids
        assert torch.equal(after_in[new], before_in[twin]), word
        assert torch.equal(after_out[new], before_out[twin]), word
    # Nothing left to add: the same tokenizer back, the model unchanged.
    assert add_word_tokens(extended, model) is extended


def test_the_tokenizer_saves_and_loads_with_its_new_words(
    text_tokenizer: PreTrainedTokenizerFast, tmp_path: Path
) -> None:
    extended = add_word_tokens(text_tokenizer, DemoLlava(text_tokenizer, SMALL))
    extended.save_pretrained(tmp_path)
    loaded = PreTrainedTokenizerFast.from_pretrained(tmp_path)
    description = json_description(generate_scene(1_000_001))
    assert loaded(description).input_ids == extended(description).input_ids
