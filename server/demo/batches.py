"""Training batches: samples -> padded input ids, labels and the image features to splice."""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerFast

from server.demo.instructions import make_sample
from server.demo.model import DemoLlava, prompt_pieces
from server.demo.scenes import Scene

IGNORE = -100


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor  # (b, t), image positions hold <pad> until spliced
    labels: torch.Tensor  # IGNORE except on answer tokens (and </s>)
    attention_mask: torch.Tensor
    image_offset: int  # where the image tokens start (the system prompt is fixed)
    scene_indices: torch.Tensor


class Batcher:
    def __init__(self, tokenizer: PreTrainedTokenizerFast, scenes: Sequence[Scene], tokens: int):
        self.tokenizer = tokenizer
        self.scenes = scenes
        self.image_tokens = tokens
        self._pieces = functools.lru_cache(maxsize=4096)(self._uncached_pieces)

    def _uncached_pieces(self, question: str) -> tuple[list[int], list[int]]:
        return prompt_pieces(self.tokenizer, question)

    def sample_batch(self, kinds: Sequence[str], size: int, rng: random.Random) -> Batch:
        indices = [rng.randrange(len(self.scenes)) for _ in range(size)]
        salt = rng.randrange(1 << 30)
        rows: list[tuple[list[int], list[int]]] = []
        offset = 0
        for index in indices:
            sample = make_sample(self.scenes[index], rng.choice(kinds), salt)
            before, after = self._pieces(sample.question)
            offset = len(before)
            answer = self.tokenizer(" " + sample.answer, add_special_tokens=False).input_ids
            prompt = before + [self.tokenizer.pad_token_id] * self.image_tokens + after
            rows.append((prompt, [*answer, self.tokenizer.eos_token_id]))
        return self._pad(rows, offset, torch.tensor(indices))

    def _pad(
        self, rows: list[tuple[list[int], list[int]]], offset: int, idx: torch.Tensor
    ) -> Batch:
        length = max(len(p) + len(a) for p, a in rows)
        ids = torch.full((len(rows), length), self.tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), length), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for row, (prompt, answer) in enumerate(rows):
            end = len(prompt) + len(answer)
            ids[row, :end] = torch.tensor(prompt + answer)
            labels[row, len(prompt) : end] = torch.tensor(answer)
            mask[row, :end] = 1
        return Batch(ids, labels, mask, offset, idx)


def batch_loss(model: DemoLlava, batch: Batch, features: torch.Tensor) -> torch.Tensor:
    """Next-token loss on the answers, with H_v = W · Z_v in place of the image tokens."""
    embeds = model.llm.get_input_embeddings()(batch.input_ids)
    image = model.projector(features[batch.scene_indices])
    start, end = batch.image_offset, batch.image_offset + image.shape[1]
    embeds = torch.cat([embeds[:, :start], image, embeds[:, end:]], dim=1)
    out = model.llm(inputs_embeds=embeds, attention_mask=batch.attention_mask, labels=batch.labels)
    loss: torch.Tensor = out.loss
    return loss
