"""Accuracy of a model in torch on fresh scenes, per response type (the ablation rows).

The served model is measured through the API by `eval-demo`; models that are never served
(stage 1 only, conversation data only) are measured here, on the same fresh seeds with the
same questions and the same ground-truth scorer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPVisionModel, PreTrainedTokenizerFast

from llava_demo.eval_sets import in_world
from llava_demo.generate import greedy_answers
from llava_demo.instructions import RESPONSE_TYPES, make_sample
from llava_demo.model import DemoLlava, tower_features
from llava_demo.phrasings import TRAINING, Phrasebook
from llava_demo.render import render_scene
from llava_demo.scenes import EVAL_SEED_BASE, Scene, generate_scene
from llava_demo.scoring import is_correct
from server.prompts.conversations import ImagePlacement


def eval_seeds(count: int, base: int = EVAL_SEED_BASE) -> list[int]:
    return list(range(base, base + count))


def summarise(correct: dict[str, list[bool]]) -> dict[str, float]:
    table = {kind: 100.0 * sum(marks) / max(len(marks), 1) for kind, marks in correct.items()}
    every = [mark for marks in correct.values() for mark in marks]
    table["overall"] = 100.0 * sum(every) / max(len(every), 1)
    return {key: round(value, 1) for key, value in table.items()}


def evaluate_offline(
    model: DemoLlava,
    tokenizer: PreTrainedTokenizerFast,
    tower: CLIPVisionModel,
    processor: CLIPImageProcessor,
    count: int,
    placement: ImagePlacement,
    render: Callable[[Scene], Image.Image] = render_scene,
    book: Phrasebook = TRAINING,
) -> dict[str, float]:
    """Asked as training asked: its renderer's pictures, its phrasings (in-world ones)."""
    scenes = [generate_scene(seed) for seed in eval_seeds(count)]
    pixels = processor(images=[render(s) for s in scenes], return_tensors="pt")
    features = tower_features(tower, pixels["pixel_values"])
    correct: dict[str, list[bool]] = {}
    for kind in RESPONSE_TYPES:
        samples = [make_sample(scene, kind, book=in_world(book)) for scene in scenes]
        answers: list[str] = []
        for start in range(0, count, 100):
            chunk = samples[start : start + 100]
            conversations = [sample.turns for sample in chunk]
            chunk_features = features[start : start + 100]
            answers += greedy_answers(model, tokenizer, chunk_features, conversations, placement)
        correct[kind] = [is_correct(a, s.answer) for a, s in zip(answers, samples, strict=True)]
    torch.set_grad_enabled(True)
    return summarise(correct)
