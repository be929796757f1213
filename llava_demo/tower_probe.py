"""`python -m llava_demo probe`: what a vision tower's features say about each scene cell.

A linear probe (LLaVA's projector is linear too) is fitted on the frozen features the decoder
receives (the selected layer's patch tokens, one per cell of the 3x3 grid) of training
pictures, to tell each cell's colour and shape ("empty" being one more class), and scored on
fresh scenes drawn by each renderer. The decoder cannot name what the features do not hold,
so this bounds what training the language side can reach, in minutes instead of a full
`train-demo`. Accuracies are over occupied cells only (most cells are empty).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import torch
import torch.nn.functional as F
from PIL import Image
from transformers import CLIPImageProcessor, CLIPVisionModel

from llava_demo.encoder_pretrain import CELL_ATTRIBUTES, cell_labels
from llava_demo.render import render_plain, render_scene
from llava_demo.render_eval import render_scene_eval
from llava_demo.scenes import EVAL_SEED_BASE, Scene, generate_scene
from llava_demo.train import all_tower_features, scene_pixels

RENDERERS: Final[dict[str, Callable[[Scene], Image.Image]]] = {
    "training renderer": render_scene,
    "plain": render_plain,
    "second renderer": render_scene_eval,
}
FIT_STEPS: Final = 400
Predictor = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Cells:
    features: torch.Tensor  # (cells, tower width)
    labels: dict[str, torch.Tensor]  # attribute -> (cells,) class index; len(values) = empty


def cells(
    tower: CLIPVisionModel,
    processor: CLIPImageProcessor,
    seeds: Sequence[int],
    render: Callable[[Scene], Image.Image],
) -> Cells:
    scenes = [generate_scene(seed) for seed in seeds]
    features = all_tower_features(tower, scene_pixels(scenes, processor, render))
    labels = {name: label.reshape(-1) for name, label in cell_labels(scenes).items()}
    return Cells(features.reshape(-1, features.shape[-1]), labels)


def fit_probe(train: Cells, attribute: str) -> Predictor:
    """A standardised linear classifier; returns features -> predicted class."""
    mean, std = train.features.mean(0), train.features.std(0) + 1e-6
    inputs, labels = (train.features - mean) / std, train.labels[attribute]
    layer = torch.nn.Linear(inputs.shape[1], len(CELL_ATTRIBUTES[attribute]) + 1)
    optimiser = torch.optim.Adam(layer.parameters(), lr=1e-2)
    with torch.enable_grad():
        for _ in range(FIT_STEPS):
            optimiser.zero_grad()
            F.cross_entropy(layer(inputs), labels).backward()  # type: ignore[no-untyped-call]
            optimiser.step()

    def predict(features: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            predicted: torch.Tensor = layer((features - mean) / std).argmax(1)
        return predicted

    return predict


def occupied_accuracy(predict: Predictor, data: Cells, attribute: str) -> float:
    labels = data.labels[attribute]
    occupied = labels < len(CELL_ATTRIBUTES[attribute])
    right = predict(data.features)[occupied] == labels[occupied]
    return round(100 * right.float().mean().item(), 1)


def probe_tower(
    tower_dir: Path, train_scenes: int, eval_scenes: int
) -> dict[str, dict[str, float]]:
    """attribute -> renderer -> % of occupied fresh cells the probe names right."""
    tower = CLIPVisionModel.from_pretrained(tower_dir).eval()
    processor = CLIPImageProcessor.from_pretrained(tower_dir)
    train = cells(tower, processor, range(train_scenes), render_scene)
    fresh = range(EVAL_SEED_BASE, EVAL_SEED_BASE + eval_scenes)
    tests = {name: cells(tower, processor, fresh, render) for name, render in RENDERERS.items()}
    table = {}
    for attribute in CELL_ATTRIBUTES:
        predict = fit_probe(train, attribute)
        table[attribute] = {
            name: occupied_accuracy(predict, data, attribute) for name, data in tests.items()
        }
    return table
