"""Deterministic byte-level BPE tokenizer for the tiny test checkpoints.

The tokenizer is trained with the `tokenizers` library on the small fixed English text in
corpus.txt next to this module, so tests get a real BPE tokenizer (merges, byte-level
alphabet, special tokens) without downloading anything. Training on the same text with the
same settings gives the same vocabulary and merges on every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

CORPUS_PATH: Final = Path(__file__).with_name("corpus.txt")

UNK_TOKEN: Final = "<unk>"
BOS_TOKEN: Final = "<s>"
EOS_TOKEN: Final = "</s>"
PAD_TOKEN: Final = "<pad>"
IMAGE_TOKEN: Final = "<image>"
# Trainer special tokens get the first ids in this order: <unk>=0, <s>=1, </s>=2 as in
# LLaMA's tokenizer, then <pad>=3 and <image>=4.
SPECIAL_TOKENS: Final = (UNK_TOKEN, BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, IMAGE_TOKEN)

# Upper bound only: the corpus runs out of merges first (1160 tokens), which keeps the
# embedding tables, and so the checkpoint, small.
MAX_VOCAB_SIZE: Final = 2000


def train_bpe_tokenizer(corpus_path: Path = CORPUS_PATH) -> Tokenizer:
    """Train the byte-level BPE tokenizer on the corpus; same input, same tokenizer."""
    tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    # No invented leading space: a rendered prompt is tokenized exactly as written.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=MAX_VOCAB_SIZE,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        # All 256 bytes up front, so any input text has a tokenization (no <unk> ever).
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = corpus_path.read_text(encoding="utf-8").splitlines()
    tokenizer.train_from_iterator(lines, trainer=trainer)
    # No post-processor: encoding adds no <s>. The chat template writes <s> into the prompt
    # text, so a rendered prompt tokenizes the same with or without add_special_tokens
    # (vLLM's chat path uses False, its text-prompt path and HF processors use True).
    return tokenizer


def build_hf_tokenizer(chat_template: str) -> PreTrainedTokenizerFast:
    """Wrap the trained tokenizer for transformers/vLLM, with special tokens and template."""
    return PreTrainedTokenizerFast(
        tokenizer_object=train_bpe_tokenizer(),
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        chat_template=chat_template,
        # The decoder's max_position_embeddings; the engine enforces the served limit.
        model_max_length=2048,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def special_token_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    """Ids of the special tokens, looked up in the tokenizer rather than assumed."""
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    return {token: int(token_id) for token, token_id in ids.items()}


def add_bos_when_encoding(tokenizer: PreTrainedTokenizerFast) -> None:
    """Encoding puts <s> first, as LLaMA's tokenizer does (the original checkpoints rely on it)."""
    bos_id = special_token_ids(tokenizer)[BOS_TOKEN]
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A",
        pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B",
        special_tokens=[(BOS_TOKEN, bos_id)],
    )
