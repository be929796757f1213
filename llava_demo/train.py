"""`python -m llava_demo train`: the paper's recipe in miniature, deterministic from a seed.

0. the language model: a LLaMA pre-trained on the demo's text alone (our stand-in for Vicuna);
1. the vision encoder: pre-trained to name each cell's colour, shape and place from its token
   (llava_demo/encoder_pretrain.py), on more scenes than the language side's, then frozen;
2. stage 1, feature alignment: only the linear projector learns, on caption pairs;
3. stage 2, end-to-end instruction tuning: projector and language model learn on the three
   response types. The ablation "conversation data only" repeats stage 2 on conversations.
Every stage draws its batches from one seeded RNG; a progress bar shows the loss and every
step's loss goes to train_log.jsonl.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPVisionModel, PreTrainedTokenizerFast

from llava_demo.batches import Batcher, batch_loss
from llava_demo.checkpoint_load import load_checkpoint
from llava_demo.config import TrainConfig
from llava_demo.encoder_pretrain import cell_labels, pretrain_tower
from llava_demo.export import export_all, write_summary
from llava_demo.instructions import STAGE2_KINDS
from llava_demo.json_words import add_word_tokens
from llava_demo.lm_pretrain import pretrain_language_model
from llava_demo.loss_log import LossLog
from llava_demo.model import (
    DemoLlava,
    DemoShape,
    build_tokenizer,
    row_placement,
    tower_config,
    tower_features,
)
from llava_demo.offline_eval import evaluate_offline
from llava_demo.phrasings import PHRASINGS
from llava_demo.render import PICTURES, render_scene
from llava_demo.scenes import CANVAS, Scene, generate_scene
from server.checkpoints.tiny_hf import CLIP_MEAN, CLIP_STD


def image_processor(canvas: int = CANVAS) -> CLIPImageProcessor:
    """Any picture resized to the tower's canvas x canvas (no crop): the scene's 3x3 grid meets
    the patches' 3x3 grid whatever the canvas's aspect ratio (a centre crop would cut a wide
    scene's sides)."""
    return CLIPImageProcessor(
        size={"height": canvas, "width": canvas},
        do_center_crop=False,
        crop_size={"height": canvas, "width": canvas},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )


def scene_pixels(
    scenes: Sequence[Scene],
    processor: CLIPImageProcessor,
    render: Callable[[Scene], Image.Image] = render_scene,
) -> torch.Tensor:
    chunks = []
    for start in range(0, len(scenes), 500):
        images = [render(scene) for scene in scenes[start : start + 500]]
        chunks.append(processor(images=images, return_tensors="pt")["pixel_values"])
    return torch.cat(chunks)


def all_tower_features(tower: CLIPVisionModel, pixels: torch.Tensor) -> torch.Tensor:
    """tower_features of many pictures, 500 at a time (bounds the activations held)."""
    chunks = [pixels[start : start + 500] for start in range(0, len(pixels), 500)]
    return torch.cat([tower_features(tower, chunk) for chunk in chunks])


@dataclass(frozen=True)
class Stage:
    """One training stage: its name (also its RNG's seed), the kinds of batch it draws (by
    weight), its steps and its peak learning rate."""

    name: str
    kinds: Sequence[str]
    weights: Sequence[float]
    steps: int
    rate: float


def run_stage(
    stage: Stage,
    model: DemoLlava,
    batcher: Batcher,
    features: torch.Tensor,
    config: TrainConfig,
    log: LossLog,
) -> None:
    """Trains the parameters that require grad; stage 1 leaves only the projector's on."""
    params = [param for param in model.parameters() if param.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=stage.rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, stage.rate, total_steps=stage.steps, pct_start=0.1
    )
    rng = random.Random(f"{config.seed}:{stage.name}")
    model.train()
    bar = log.bar(stage.name, stage.steps)
    for step in bar:
        batch = batcher.sample_batch(stage.kinds, stage.weights, config.batch_size, rng)
        loss = batch_loss(model, batch, features)
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        log.write(stage.name, step, loss.item(), batch.kind)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()


def pretrain_encoder(
    scenes: Sequence[Scene], pixels: torch.Tensor, config: TrainConfig, log: LossLog
) -> CLIPVisionModel:
    tower = CLIPVisionModel(tower_config(DemoShape())).to(torch.float32)
    torch.nn.init.normal_(tower.embeddings.position_embedding.weight, std=config.position_std)
    with log.progress("encoder (per cell)", config.encoder_steps, "encoder") as report:
        pretrain_tower(tower, pixels, cell_labels(scenes), config.encoder_steps, 128, report)
    return tower


@dataclass(frozen=True)
class Trained:
    """What the stages leave: the tokenizer, the frozen tower and its image processor, the
    training scenes' features, the batcher, the full model, and the model after stage 1 (None
    when continued)."""

    tokenizer: PreTrainedTokenizerFast
    tower: CLIPVisionModel
    processor: CLIPImageProcessor
    features: torch.Tensor
    batcher: Batcher
    model: DemoLlava
    after_stage1: DemoLlava | None


def train_demo(config: TrainConfig) -> dict[str, object]:
    """Runs every stage, writes the checkpoints and returns the summary (also saved)."""
    started = time.monotonic()
    torch.set_num_threads(config.threads)  # one: several threads crawl on a shared machine
    torch.manual_seed(config.seed)
    config.out.mkdir(parents=True, exist_ok=True)
    log = LossLog(config.out / "train_log.jsonl")
    render = PICTURES[config.pictures]
    trained = (
        train_from_scratch(config, log)
        if config.init is None
        else continue_stage2(config, config.init, log)
    )
    tokenizer, tower, model = trained.tokenizer, trained.tower, trained.model
    processor = trained.processor
    # The served prompt puts the question where most training rows had it.
    placement = row_placement(config.question_first >= 0.5)
    book = PHRASINGS[config.phrasings]

    def evaluate(model: DemoLlava) -> dict[str, float]:
        return evaluate_offline(
            model, tokenizer, tower, processor, config.eval_scenes, placement, render, book
        )

    stage1 = trained.after_stage1
    rows = {"stage 1 only": evaluate(stage1)} if config.ablations and stage1 else {}
    export_all(config.out, model, tower, tokenizer, processor, placement)
    accuracy = {"full data": evaluate(model), **rows}
    summary: dict[str, object] = {
        "config": {k: str(v) for k, v in asdict(config).items()},
        "train_seconds": round(time.monotonic() - started, 1),
        "offline_accuracy": accuracy,
        **init_summary(config.init),
    }
    write_summary(config.out, summary)
    if config.ablations and stage1:  # after the export, so the main checkpoint never waits on it
        stage1.llm.requires_grad_(True)
        steps, rate = conversation_only_steps(config), config.stage2_learning_rate
        stage = Stage("stage 2 (conversation only)", ["conversation"], [1.0], steps, rate)
        run_stage(stage, stage1, trained.batcher, trained.features, config, log)
        accuracy["conversation data only"] = evaluate(stage1)
        summary["train_seconds_with_ablations"] = round(time.monotonic() - started, 1)
        write_summary(config.out, summary)
    return summary


def init_summary(init: Path | None) -> dict[str, object]:
    """A continued run keeps the summary of the checkpoint it started from: how its tower and
    earlier stages were trained."""
    path = None if init is None else init / "training_summary.json"
    if path is None or not path.exists():
        return {}
    return {"init_summary": json.loads(path.read_text())}


def train_from_scratch(config: TrainConfig, log: LossLog) -> Trained:
    tokenizer, processor = build_tokenizer(), image_processor()
    # The tower's scenes begin with the language side's: their pixels are drawn once.
    tower_scenes = [
        generate_scene(seed) for seed in range(max(config.scenes, config.encoder_scenes))
    ]
    scenes = tower_scenes[: config.scenes]
    tower_pixels = scene_pixels(tower_scenes, processor, PICTURES[config.pictures])
    tower = pretrain_encoder(tower_scenes, tower_pixels, config, log)
    features = all_tower_features(tower, tower_pixels[: config.scenes])
    del tower_pixels  # 1.1 GB at 40000 scenes: not held through the language side
    batcher = training_batcher(tokenizer, scenes, config)
    model, stage1 = train_language_side(tokenizer, scenes, batcher, features, config, log)
    return Trained(tokenizer, tower, processor, features, batcher, model, stage1)


def continue_stage2(config: TrainConfig, init: Path, log: LossLog) -> Trained:
    """Stage 2 again from a checkpoint's weights (its tokenizer and frozen tower too, pictures
    at the tower's size), on this run's data: the stage-2 flags say how long, how fast and on
    which kinds."""
    tokenizer, model, tower, processor = load_checkpoint(init)
    tokenizer = add_word_tokens(tokenizer, model)  # the JSON descriptions' words, unspaced
    scenes = [generate_scene(seed) for seed in range(config.scenes)]
    pixels = scene_pixels(scenes, processor, PICTURES[config.pictures])
    features = all_tower_features(tower, pixels)
    batcher = training_batcher(tokenizer, scenes, config)
    model.llm.requires_grad_(True)
    run_stage(stage2(config, "stage 2 (continued)"), model, batcher, features, config, log)
    return Trained(tokenizer, tower, processor, features, batcher, model, None)


def training_batcher(
    tokenizer: PreTrainedTokenizerFast, scenes: Sequence[Scene], config: TrainConfig
) -> Batcher:
    book = PHRASINGS[config.phrasings]
    return Batcher(tokenizer, scenes, DemoShape().image_tokens, config.question_first, book)


def stage2(config: TrainConfig, name: str) -> Stage:
    return Stage(
        name,
        STAGE2_KINDS,
        config.stage2_weights,
        config.stage2_steps,
        config.stage2_learning_rate,
    )


def conversation_only_steps(config: TrainConfig) -> int:
    """The paper trains its data ablations on a subset for the same epochs: here as many
    conversation batches as the full run drew, i.e. its share of the stage-2 steps."""
    share = config.stage2_weights[STAGE2_KINDS.index("conversation")] / sum(config.stage2_weights)
    return round(config.stage2_steps * share)


def decoder_shape(config: TrainConfig) -> DemoShape:
    return DemoShape(
        text_hidden=config.text_hidden,
        text_layers=config.text_layers,
        text_intermediate=3 * config.text_hidden,
        text_head_dim=config.text_head_dim,
    )


def train_language_side(
    tokenizer: PreTrainedTokenizerFast,
    scenes: Sequence[Scene],
    batcher: Batcher,
    features: torch.Tensor,
    config: TrainConfig,
    log: LossLog,
) -> tuple[DemoLlava, DemoLlava]:
    """(the full model, a copy taken after stage 1 for the ablations)."""
    model = DemoLlava(tokenizer, decoder_shape(config))
    pretrain_language_model(model, tokenizer, scenes, config, log)
    model.llm.requires_grad_(False)
    stage1 = Stage(
        "stage 1 (projector)", ["caption"], [1.0], config.stage1_steps, config.learning_rate
    )
    run_stage(stage1, model, batcher, features, config, log)
    after_stage1 = copy.deepcopy(model)
    model.llm.requires_grad_(True)
    run_stage(stage2(config, "stage 2 (full data)"), model, batcher, features, config, log)
    return model, after_stage1
