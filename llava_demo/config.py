"""`python -m llava_demo train`'s settings: one field per command-line flag."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llava_demo.model import DemoShape


@dataclass(frozen=True)
class TrainConfig:
    out: Path
    seed: int = 3  # of seeds 1 to 4, only 3 learnt every question form (docs/demo-model.md)
    scenes: int = 5000
    # The tower's pre-training (docs/demo-model.md): on 5000 scenes it learnt their shapes by
    # heart (99% of their cells, 88% of fresh ones); on 40000 it tells 98% of fresh cells'.
    encoder_steps: int = 6000
    encoder_scenes: int = 40000
    # CLIP starts its position embeddings at std 0.02, like its weights; a coloured patch's
    # embedding is ~0.8, so on these flat scenes the cell drowned in the colour (nearest class
    # mean told a patch's cell 19% of the time). At 0.6 it is told every time.
    position_std: float = 0.6
    lm_steps: int = 150
    stage1_steps: int = 150
    stage2_steps: int = 8000
    batch_size: int = 24
    learning_rate: float = 3e-3  # the language model's pre-training and stage 1
    stage2_learning_rate: float = 1e-3  # 3e-3 plateaued at its peak (loss fell only as it fell)
    # How often stage 2 draws a batch of each kind (STAGE2_KINDS order: the three types,
    # follow-up questions, descriptions as JSON); each batch holds one kind. 2:1:2 starved
    # the descriptions (detail 93% -> 39%). JSON descriptions restate what the text ones
    # teach, in another form: half a share.
    stage2_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 0.5)
    text_hidden: int = DemoShape().text_hidden  # a multiple of text_head_dim
    text_layers: int = DemoShape().text_layers
    text_head_dim: int = DemoShape().text_head_dim
    # The share of rows whose question comes before the image (the rest: image first); the
    # image then follows the latest question (model.QUESTION_FIRST). The question first lets
    # the image tokens attend to it in the causal decoder (docs).
    question_first: float = 1.0
    # The pictures the tower and the language side learn from (render.PICTURES): "varied"
    # (sizes, shades, backgrounds, drawing styles) or "plain" (48x48, white, base colours).
    pictures: str = "varied"
    # The questions' words (phrasings.PHRASINGS): "varied" (every phrasing of each form, and
    # out-of-world questions) or "canonical" (each form's first phrasing alone).
    phrasings: str = "varied"
    # A checkpoint (the original format) to continue from: its tokenizer, tower, projector
    # and decoder; only stage 2 runs (checkpoint_load.py). None: every stage from scratch.
    init: Path | None = None
    ablations: bool = True
    eval_scenes: int = 300
    threads: int = 1
