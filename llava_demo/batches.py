"""Training batches: samples -> padded rows, labels and the image features to splice.

Every prompt starts with the same `llava_v0` system text ("A chat between ... ###Human: "),
32 of a row's 40 to 90 tokens. The batch keeps the start that all its rows share once
(`prefix_ids`; the image or question that follows sits in each row); `batch_loss` runs the
decoder on it once per step and lets every row attend to its keys and values. Autograd sums
the rows' gradients through that one computation, so loss and gradients equal those of the
full rows (tests/test_demo_training.py checks it) at a fraction of the cost. Each batch holds
one kind of sample, so its rows are padded only to that kind's length.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache, PreTrainedTokenizerFast

from llava_demo.instructions import make_sample
from llava_demo.model import DemoLlava, prompt_pieces, row_placement
from llava_demo.phrasings import TRAINING, Phrasebook
from llava_demo.scenes import Scene
from server.prompts.conversations import ImagePlacement

IGNORE = -100


@dataclass(frozen=True)
class Batch:
    kind: str  # every row is a sample of this kind
    prefix_ids: torch.Tensor  # (1, p): the system prompt before the image, shared by all rows
    input_ids: torch.Tensor  # (b, t) after the prefix; <pad> where image_mask is True
    labels: torch.Tensor  # IGNORE except on answer tokens (and </s>)
    attention_mask: torch.Tensor  # (b, t), of the rows only (the prefix is never padding)
    image_mask: torch.Tensor  # (b, t): True where the row's image features go
    scene_indices: torch.Tensor


class Batcher:
    def __init__(
        self,
        tokenizer: PreTrainedTokenizerFast,
        scenes: Sequence[Scene],
        tokens: int,
        question_first: float = 0.0,
        book: Phrasebook = TRAINING,
    ):
        self.tokenizer = tokenizer
        self.scenes = scenes
        self.image_tokens = tokens
        self.question_first = question_first
        self.book = book
        self._pieces = functools.lru_cache(maxsize=8192)(self._uncached_pieces)

    def _uncached_pieces(
        self, turns: tuple[str, ...], placement: ImagePlacement
    ) -> tuple[list[int], list[int]]:
        return prompt_pieces(self.tokenizer, turns, placement)

    def sample_batch(
        self, kinds: Sequence[str], weights: Sequence[float], size: int, rng: random.Random
    ) -> Batch:
        """`size` samples of one kind, drawn by `weights`, on random training scenes."""
        kind = rng.choices(kinds, weights)[0]
        indices = [rng.randrange(len(self.scenes)) for _ in range(size)]
        salt = rng.randrange(1 << 30)
        pieces: list[tuple[list[int], list[int], list[int]]] = []
        for index in indices:
            sample = make_sample(self.scenes[index], kind, salt, self.book)
            # No draw at 0, so image-first runs keep their RNG stream.
            question_first = self.question_first != 0 and rng.random() < self.question_first
            before, after = self._pieces(sample.turns, row_placement(question_first))
            answer = self.tokenizer(sample.written_answer, add_special_tokens=False).input_ids
            pieces.append((before, after, [*answer, self.tokenizer.eos_token_id]))
        shared = _common_prefix_length([before for before, _, _ in pieces])
        prefix = torch.tensor([pieces[0][0][:shared]])
        return self._pad(kind, prefix, shared, pieces, torch.tensor(indices))

    def _pad(
        self,
        kind: str,
        prefix: torch.Tensor,
        shared: int,
        pieces: list[tuple[list[int], list[int], list[int]]],
        idx: torch.Tensor,
    ) -> Batch:
        pad = self.tokenizer.pad_token_id
        rows = [
            (before[shared:] + [pad] * self.image_tokens + after, answer, len(before) - shared)
            for before, after, answer in pieces
        ]
        length = max(len(p) + len(a) for p, a, _ in rows)
        ids = torch.full((len(rows), length), pad, dtype=torch.long)
        labels = torch.full((len(rows), length), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        image = torch.zeros((len(rows), length), dtype=torch.bool)
        for row, (prompt, answer, image_at) in enumerate(rows):
            end = len(prompt) + len(answer)
            ids[row, :end] = torch.tensor(prompt + answer)
            labels[row, len(prompt) : end] = torch.tensor(answer)
            mask[row, :end] = 1
            image[row, image_at : image_at + self.image_tokens] = True
        return Batch(kind, prefix, ids, labels, mask, image, idx)


def _common_prefix_length(sequences: list[list[int]]) -> int:
    """How many leading tokens every row shares (at least the system prompt's)."""
    length = min(len(sequence) for sequence in sequences)
    first = sequences[0]
    for sequence in sequences[1:]:
        while sequence[:length] != first[:length]:
            length -= 1
    return length


def row_embeddings(model: DemoLlava, batch: Batch, features: torch.Tensor) -> torch.Tensor:
    """The rows' input embeddings with H_v = W · Z_v in place of the image tokens."""
    embeds: torch.Tensor = model.llm.get_input_embeddings()(batch.input_ids)
    image = model.projector(features[batch.scene_indices])
    return embeds.masked_scatter(batch.image_mask.unsqueeze(-1), image)


def batch_loss(model: DemoLlava, batch: Batch, features: torch.Tensor) -> torch.Tensor:
    """Next-token loss on the answers; the shared prefix is computed once, with grad."""
    rows = batch.input_ids.shape[0]
    cache = DynamicCache(config=model.llm.config)
    model.llm.model(input_ids=batch.prefix_ids, past_key_values=cache, use_cache=True)
    cache.batch_repeat_interleave(rows)  # differentiable: the rows' grads sum into the prefix
    prefix_mask = torch.ones((rows, batch.prefix_ids.shape[1]), dtype=torch.long)
    out = model.llm(
        inputs_embeds=row_embeddings(model, batch, features),
        attention_mask=torch.cat([prefix_mask, batch.attention_mask], dim=1),
        past_key_values=cache,
        labels=batch.labels,
    )
    loss: torch.Tensor = out.loss
    return loss
