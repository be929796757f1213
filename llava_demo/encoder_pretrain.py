"""Contrastive (CLIP-like) pre-training of the small vision tower on scene/caption pairs.

A batch of images and their captions is embedded by the tower (its pooled CLS output, then a
projection) and by a small text transformer; the symmetric InfoNCE loss pulls each image
towards its own caption and away from the others', as CLIP does. Captions name every object
with its colour and cell, so telling captions apart needs colour, shape and layout. After this
stage the tower is frozen (the paper freezes CLIP) and only its features are used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Final

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPVisionModel

from llava_demo.scenes import COLOURS, POSITIONS, SHAPES

_WORD: Final = re.compile(r"[a-z]+")
CAPTION_WORDS: Final = sorted(
    {"a", "at", "the"} | set(COLOURS) | set(SHAPES) | {w for p in POSITIONS for w in p.split()}
)
_MAX_WORDS: Final = 24


class CaptionEncoder(nn.Module):
    """Word embeddings + a 2-layer transformer; the first (CLS) position is the embedding."""

    def __init__(self, width: int):
        super().__init__()
        self.vocab = {word: index + 2 for index, word in enumerate(CAPTION_WORDS)}  # 0 pad, 1 cls
        self.embed = nn.Embedding(len(self.vocab) + 2, width)
        self.position = nn.Parameter(torch.zeros(_MAX_WORDS + 1, width))
        layer = nn.TransformerEncoderLayer(width, 2, width * 4, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def ids(self, captions: Sequence[str]) -> torch.Tensor:
        rows = [[1] + [self.vocab[w] for w in _WORD.findall(text)] for text in captions]
        ids = torch.zeros(len(rows), _MAX_WORDS + 1, dtype=torch.long)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = torch.tensor(row[: _MAX_WORDS + 1])
        return ids

    def forward(self, captions: Sequence[str]) -> torch.Tensor:
        ids = self.ids(captions)
        hidden = self.embed(ids) + self.position
        hidden = self.encoder(hidden, src_key_padding_mask=ids == 0)
        pooled: torch.Tensor = hidden[:, 0]
        return pooled


def clip_loss(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    logits = logit_scale.exp().clamp(max=100) * image @ text.T
    labels = torch.arange(len(image))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def pretrain_tower(
    tower: CLIPVisionModel,
    pixels: torch.Tensor,
    captions: Sequence[str],
    steps: int,
    batch_size: int,
    report: Callable[[int, float], None],
) -> None:
    """Trains the tower in place; batches are drawn with the caller's seeded torch RNG."""
    width = tower.config.hidden_size
    text = CaptionEncoder(width)
    image_projection = nn.Linear(width, width, bias=False)
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    params = [*tower.parameters(), *text.parameters(), *image_projection.parameters(), logit_scale]
    optimiser = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 1e-3, total_steps=steps)
    tower.train()
    for step in range(steps):
        batch = torch.randperm(len(pixels))[:batch_size]
        pooled = tower(pixel_values=pixels[batch]).pooler_output
        loss = clip_loss(image_projection(pooled), text([captions[i] for i in batch]), logit_scale)
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        schedule.step()
        report(step, loss.item())
    tower.eval()
    tower.requires_grad_(False)
