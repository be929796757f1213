"""`python -m llava_demo distil`: the tower taught to see any picture as it sees a plain one.

The committed decoder learnt to read a tower pre-trained on plain pictures (48x48, white,
centred, the base shades), which reads little else. Rather than retrain the decoder on what
another tower makes of varied pictures, the tower is taught to give, for any picture of a
scene, the tokens its plain self gave for the plain picture of that scene: the teacher is the
checkpoint's tower on `render_plain(scene)`, the student (starting as the teacher) sees the
training renderer's pictures of the same scene in several styles, and the loss is the mean
squared distance between what the decoder receives from each, the projected tokens W·Z_v.
Projector and decoder are untouched, so the answers about plain pictures stay what they were.

The student reads 96x96 pictures with 32-pixel patches: still one patch per cell and the
same 9 tokens of the same width, but four times the pixels per object (a small object in a
48-pixel input is a few pixels wide), and two more layers and an MLP twice as wide to learn
with. Each 16x16 patch filter of the teacher becomes a 32x32 one by repeating every weight 2x2
and dividing by 4, and what is new starts as the identity, so the student starts as the
teacher applied to the picture enlarged twice.
"""

from __future__ import annotations

import copy
import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Final

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPImageProcessor, CLIPVisionModel

from llava_demo.checkpoint_load import load_checkpoint
from llava_demo.export import export_all, write_summary
from llava_demo.loss_log import LossLog
from llava_demo.model import SELECT_LAYER
from llava_demo.offline_eval import evaluate_offline
from llava_demo.render import Renderer, render_plain, render_styled
from llava_demo.scenes import CANVAS, generate_scene
from llava_demo.train import all_tower_features, image_processor, scene_pixels
from server.media.cores import usable_cores
from server.model_repo import parse_model_yaml

STUDENT_CANVAS: Final = 2 * CANVAS
PATCH_EMBEDDING: Final = "embeddings.patch_embedding.weight"


def enlarged_student(
    teacher: CLIPVisionModel, factor: int, extra_layers: int = 0, mlp_width: int | None = None
) -> CLIPVisionModel:
    """The teacher for pictures `factor` times larger: patches `factor` times wider, each
    filter weight repeated factor x factor and divided by factor^2. With extra_layers, that
    many layers go in before the teacher's last layer whose features are read, each
    starting as the identity (its attention and MLP outputs zero: the residual passes
    through); a wider MLP keeps the teacher's units and adds ones whose outputs start at
    zero. So the student starts as the teacher, with room to learn more."""
    config = copy.deepcopy(teacher.config)
    config.image_size *= factor
    config.patch_size *= factor
    config.num_hidden_layers += extra_layers
    config.intermediate_size = mlp_width or config.intermediate_size
    student = CLIPVisionModel(config).to(torch.float32)
    weights = student.state_dict()
    kept = _teacher_layers(teacher.config.num_hidden_layers, extra_layers)
    for name, value in teacher.state_dict().items():
        target = _student_name(name, kept)
        weights[target] = _padded(name, value, weights[target])
    for layer in set(range(config.num_hidden_layers)) - set(kept.values()):
        for part in ("self_attn.out_proj", "mlp.fc2"):
            weights[f"encoder.layers.{layer}.{part}.weight"].zero_()
            weights[f"encoder.layers.{layer}.{part}.bias"].zero_()
    student.load_state_dict(weights)
    return student


def _teacher_layers(layers: int, extra: int) -> dict[int, int]:
    """teacher layer -> student layer: all but the last in place, the last after the extras
    (the decoder reads the penultimate layer: the new ones come just before it is read)."""
    kept = {layer: layer for layer in range(layers - 1)}
    kept[layers - 1] = layers - 1 + extra
    return kept


def _student_name(name: str, kept: dict[int, int]) -> str:
    prefix = "encoder.layers."
    if not name.startswith(prefix):
        return name
    layer, rest = name.removeprefix(prefix).split(".", 1)
    return f"{prefix}{kept[int(layer)]}.{rest}"


def _padded(name: str, teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """The teacher's tensor in the student's shape. Patch filters are enlarged; a wider
    MLP's extra fc1 units keep their random start and their fc2 columns are zero, so they
    add nothing yet."""
    if name == PATCH_EMBEDDING:
        factor = student.shape[-1] // teacher.shape[-1]
        enlarged = teacher.repeat_interleave(factor, 2).repeat_interleave(factor, 3)
        return enlarged / (factor * factor)
    if teacher.shape == student.shape:
        return teacher.clone()
    padded = torch.zeros_like(student) if name.endswith("fc2.weight") else student.clone()
    padded[tuple(slice(0, size) for size in teacher.shape)] = teacher
    return padded


def _styled_pixels(processor: CLIPImageProcessor, job: tuple[int, int]) -> np.ndarray:
    seed, style = job
    picture = render_styled(generate_scene(seed), style)
    pixels: np.ndarray = processor(images=[picture], return_tensors="np")["pixel_values"][0]
    return pixels


def styled_pixels(processor: CLIPImageProcessor, seeds: Sequence[int], styles: int) -> torch.Tensor:
    """Each scene in `styles` styles of the training renderer, style-major: row
    i is seed seeds[i % len(seeds)]. Drawn by a process per usable core (a deterministic map:
    the pictures do not depend on how many)."""
    jobs = [(seed, style) for style in range(styles) for seed in seeds]
    with Pool(usable_cores()) as pool:
        rows = pool.map(functools.partial(_styled_pixels, processor), jobs, chunksize=256)
    return torch.from_numpy(np.stack(rows))


@dataclass(frozen=True)
class DistilConfig:
    """`python -m llava_demo distil`'s settings (docs/demo-model.md gives the measured runs)."""

    init: Path  # the checkpoint (original format) whose tower is the teacher
    out: Path
    scenes: int = 40000  # seeds first_scene..first_scene+scenes-1
    # 0: the tower's pre-training scenes; a continued distillation takes new ones.
    first_scene: int = 0
    styles: int = 2  # pictures of each scene, in styles drawn by the training renderer
    # The student: two more layers and an MLP twice as wide as the teacher's. At the
    # teacher's size it reached 77.7% on the second renderer (offline, 100 scenes), with
    # them 89.7% (docs/demo-model.md).
    extra_layers: int = 2
    mlp_width: int = 512
    steps: int = 16000
    learning_rate: float = 5e-4
    batch_size: int = 128
    seed: int = 3
    threads: int = 2
    eval_scenes: int = 100


def distil_tower(
    teacher_tokens: torch.Tensor,
    projector: nn.Linear,
    student: CLIPVisionModel,
    pictures: torch.Tensor,
    config: DistilConfig,
    report: Callable[[int, float], None],
) -> None:
    """Trains the student in place. teacher_tokens: (scenes, 9, width), the teacher's tokens of
    each scene's plain picture; pictures: (styles * scenes, 3, H, W), row i of scene
    i % scenes. Batches come from the caller's seeded torch RNG."""
    with torch.no_grad():
        targets = projector(teacher_tokens)
    scenes = len(teacher_tokens)
    rate = config.learning_rate
    optimiser = torch.optim.AdamW(student.parameters(), lr=rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, rate, total_steps=config.steps)
    student.train().requires_grad_(True)
    projector.requires_grad_(False)
    for step in range(config.steps):
        rows = torch.randint(0, len(pictures), (config.batch_size,))
        out = student(pixel_values=pictures[rows], output_hidden_states=True)
        tokens = out.hidden_states[SELECT_LAYER][:, 1:]
        loss = F.mse_loss(projector(tokens), targets[rows % scenes])
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        schedule.step()
        report(step, loss.item())
    student.eval().requires_grad_(False)


def distil_checkpoint(
    config: DistilConfig, log: LossLog, renderers: dict[str, Renderer]
) -> dict[str, object]:
    """Writes config.out (both formats): init's decoder and projector with the student tower;
    returns the summary (also saved), with the offline accuracy on each renderer's pictures
    (the caller's: training never reads the second renderer)."""
    started = time.monotonic()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    tokenizer, model, teacher, processor = load_checkpoint(config.init)
    student_processor = image_processor(STUDENT_CANVAS)
    seeds = range(config.first_scene, config.first_scene + config.scenes)
    scenes = [generate_scene(seed) for seed in seeds]
    teacher_tokens = all_tower_features(teacher, scene_pixels(scenes, processor, render_plain))
    pictures = styled_pixels(student_processor, seeds, config.styles)
    # A 48-px tower grows to 96 px; a distilled one (already 96 px, factor 1, with
    # --extra-layers 0) continues as a copy of itself.
    factor = STUDENT_CANVAS // teacher.config.image_size
    student = enlarged_student(teacher, factor, config.extra_layers, config.mlp_width)
    stage = "tower distillation"
    with log.progress(stage, config.steps, stage) as report:
        distil_tower(teacher_tokens, model.projector, student, pictures, config, report)
    del pictures
    # The decoder is the init's: its prompts stay laid out as it learnt them.
    placement = parse_model_yaml(config.init / "model.yaml").image_placement
    export_all(config.out, model, student, tokenizer, student_processor, placement)
    accuracy = {
        name: evaluate_offline(
            model, tokenizer, student, student_processor, config.eval_scenes, placement, render
        )
        for name, render in renderers.items()
    }
    return _summary(config, accuracy, time.monotonic() - started)


def _summary(
    config: DistilConfig, accuracy: dict[str, dict[str, float]], seconds: float
) -> dict[str, object]:
    """The init's summary (what its decoder learnt from, which eval-demo asks in kind) with
    this run's settings, time and offline accuracy per renderer. An init that was itself
    distilled keeps that record under `earlier_distillation` (nested as often as it happened)."""
    init_summary = json.loads((config.init / "training_summary.json").read_text())
    record: dict[str, object] = {
        "tower_distillation": {k: str(v) for k, v in asdict(config).items()},
        "tower_distillation_seconds": round(seconds, 1),
        "tower_offline_accuracy": accuracy,
    }
    recorded = (*record, "earlier_distillation")
    earlier = {key: init_summary.pop(key) for key in recorded if key in init_summary}
    if earlier:
        record["earlier_distillation"] = earlier
    summary = {**init_summary, **record}
    write_summary(config.out, summary)
    return summary
