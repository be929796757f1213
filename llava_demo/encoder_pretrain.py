"""Pre-training of the small vision tower: each cell's patch token names what is in the cell.

The tower's patches meet the scene's 3x3 grid, one patch per cell, and the decoder reads the
patch tokens of one layer (SELECT_LAYER). Here a linear head per attribute (the decoder's
projector is linear too) reads each of those tokens and names its cell's colour and shape,
"empty" included, and the cell itself; the tower learns what makes those readable, as ViTs
were first pre-trained by supervised classification. The paper uses CLIP, pre-trained
contrastively on captions; a contrastive tower trained here on the varied pictures learnt
colours and places but left an object's shape readable two times in three (a batch of
captions is told apart by colours and places long before shapes matter; docs/demo-model.md).
The heads are dropped afterwards; the tower is frozen (the paper freezes CLIP) and only its
features are used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPVisionModel

from llava_demo.model import SELECT_LAYER
from llava_demo.scenes import COLOURS, SHAPES, Scene

# What each cell's patch token is trained to name (and tower_probe.py reads back).
CELL_ATTRIBUTES: Final = {"colour": COLOURS, "shape": SHAPES}
CellLabels = dict[str, torch.Tensor]  # attribute -> (scenes, 9) class per cell, row by row
PEAK_LEARNING_RATE: Final = 1e-3


def cell_labels(scenes: Sequence[Scene]) -> CellLabels:
    """Each cell's class per attribute; len(values) is the class of an empty cell."""
    labels = {}
    for attribute, values in CELL_ATTRIBUTES.items():
        label = torch.full((len(scenes), 9), len(values))
        for index, scene in enumerate(scenes):
            for obj in scene.objects:
                label[index, obj.row * 3 + obj.column] = values.index(getattr(obj, attribute))
        labels[attribute] = label
    return labels


class CellHeads(nn.Module):
    """A linear classifier per attribute over each cell's patch token, and one for the cell
    itself: naming only what is in a cell, a tower let the cell fade from its tokens (the
    nearest class mean told an occupied token's cell 15% of the time, against 100% for the
    contrastive tower), and the decoder then found "the square" but not where it was."""

    def __init__(self, width: int):
        super().__init__()
        self.heads = nn.ModuleDict(
            {name: nn.Linear(width, len(values) + 1) for name, values in CELL_ATTRIBUTES.items()}
        )
        self.cell = nn.Linear(width, 9)

    def forward(self, patches: torch.Tensor, labels: CellLabels) -> torch.Tensor:
        """The summed cross-entropy of every attribute, and of the cell, over the batch."""
        losses = [
            F.cross_entropy(head(patches).flatten(0, 1), labels[name].flatten())
            for name, head in self.heads.items()
        ]
        cells = torch.arange(9).expand(len(patches), 9)
        losses.append(F.cross_entropy(self.cell(patches).flatten(0, 1), cells.flatten()))
        return torch.stack(losses).sum()


def pretrain_tower(
    tower: CLIPVisionModel,
    pixels: torch.Tensor,
    labels: CellLabels,
    steps: int,
    batch_size: int,
    report: Callable[[int, float], None],
) -> None:
    """Trains the tower in place; batches are drawn with the caller's seeded torch RNG."""
    cells = CellHeads(tower.config.hidden_size)
    params = [*tower.parameters(), *cells.parameters()]
    optimiser = torch.optim.AdamW(params, lr=PEAK_LEARNING_RATE, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, PEAK_LEARNING_RATE, total_steps=steps)
    tower.train()
    for step in range(steps):
        batch = torch.randperm(len(pixels))[:batch_size]
        out = tower(pixel_values=pixels[batch], output_hidden_states=True)
        patches = out.hidden_states[SELECT_LAYER][:, 1:]
        loss = cells(patches, {name: label[batch] for name, label in labels.items()})
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        report(step, loss.item())
    tower.eval()
    tower.requires_grad_(False)
