"""The tower's distillation (llava_demo/tower_distil.py): the student starts as the teacher,
and a short run writes a servable checkpoint whose decoder is the init's, in both formats."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor, CLIPVisionModel

from llava_demo.config import TrainConfig
from llava_demo.export import export_tower, hf_folder
from llava_demo.loss_log import LossLog
from llava_demo.model import DemoShape, tower_config, tower_features
from llava_demo.paths import DEMO_DIR
from llava_demo.render import render_plain, render_styled
from llava_demo.scenes import generate_scene
from llava_demo.tower_distil import (
    STUDENT_CANVAS,
    DistilConfig,
    distil_checkpoint,
    enlarged_student,
)
from llava_demo.tower_probe import RENDERERS
from llava_demo.train import image_processor, train_demo
from server.model_repo import resolve_model

TOWER_WEIGHTS = Path("tower") / "model.safetensors"


@pytest.fixture(scope="module")
def teacher() -> CLIPVisionModel:
    """A tower of train's shape (48 px, 16-pixel patches); the committed one is already a
    student. Random weights: starting as the teacher does not depend on them."""
    torch.manual_seed(0)
    return CLIPVisionModel(tower_config(DemoShape())).eval()


def _starts_as(student: CLIPVisionModel, teacher: CLIPVisionModel) -> bool:
    scenes = [generate_scene(seed) for seed in range(4)]
    pictures = [render_plain(scenes[0]), *(render_styled(scene, 1) for scene in scenes[1:])]
    pixels = image_processor()(images=pictures, return_tensors="pt")["pixel_values"]
    enlarged = pixels.repeat_interleave(2, 2).repeat_interleave(2, 3)
    expected = tower_features(teacher, pixels)
    return torch.allclose(tower_features(student, enlarged), expected, atol=1e-4)


def test_the_student_starts_as_the_teacher_on_the_picture_enlarged_twice(
    teacher: CLIPVisionModel,
) -> None:
    student = enlarged_student(teacher, 2)
    assert (student.config.image_size, student.config.patch_size) == (96, 32)
    assert _starts_as(student, teacher)


def test_a_deeper_and_wider_student_also_starts_as_the_teacher(
    teacher: CLIPVisionModel,
) -> None:
    student = enlarged_student(teacher, 2, extra_layers=2, mlp_width=512)
    assert (student.config.num_hidden_layers, student.config.intermediate_size) == (5, 512)
    assert _starts_as(student, teacher)


def test_styles_are_the_training_renderers_and_differ() -> None:
    scene = generate_scene(7)
    first, second = render_styled(scene, 0), render_styled(scene, 1)
    assert first.tobytes() != second.tobytes()
    assert render_styled(scene, 1).tobytes() == second.tobytes()


def _distilled(init: Path, out: Path, **settings: int) -> Path:
    config = DistilConfig(
        init=init, out=out, scenes=8, styles=2, steps=3, batch_size=4, eval_scenes=2, **settings
    )
    out.mkdir(parents=True)
    distil_checkpoint(config, LossLog(out / "tower_log.jsonl"), RENDERERS)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, teacher: CLIPVisionModel) -> tuple[Path, Path]:
    """(init, out): the committed decoder with a 48-pixel tower, its prompts laid out as the
    checkpoint the committed tower was distilled from had them, and that distilled a few
    steps."""
    init = tmp_path_factory.mktemp("init") / "llava-demo"
    shutil.copytree(DEMO_DIR, init)
    export_tower(init / "tower", teacher, image_processor())
    spec = init / "model.yaml"
    placement = re.sub(r"image_placement: \w+", "image_placement: after_text", spec.read_text())
    spec.write_text(placement)
    return init, _distilled(init, tmp_path_factory.mktemp("distil") / "llava-demo")


def test_the_same_run_gives_the_same_tower(runs: tuple[Path, Path], tmp_path: Path) -> None:
    init, out = runs
    again = _distilled(init, tmp_path / "llava-demo")
    assert (again / TOWER_WEIGHTS).read_bytes() == (out / TOWER_WEIGHTS).read_bytes()


def test_a_short_run_keeps_the_decoder_and_changes_the_tower(runs: tuple[Path, Path]) -> None:
    init, out = runs
    before = load_file(str(init / "weights" / "model.safetensors"))
    after = load_file(str(out / "weights" / "model.safetensors"))
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)
    key = "vision_model.encoder.layers.0.self_attn.q_proj.weight"
    start, trained = load_file(str(init / TOWER_WEIGHTS)), load_file(str(out / TOWER_WEIGHTS))
    assert start[key].shape == trained[key].shape and not torch.equal(start[key], trained[key])
    tower = json.loads((out / "tower" / "config.json").read_text())
    assert (tower["image_size"], tower["patch_size"]) == (STUDENT_CANVAS, 32)
    steps = (out / "tower_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in steps] == [0, 1, 2]
    summary_text = (out / "training_summary.json").read_text()
    assert set(json.loads(summary_text)["tower_offline_accuracy"]) == set(RENDERERS)
    # The llava-hf export carries it too: eval-demo reads what the model learnt from it.
    assert (hf_folder(out) / "training_summary.json").read_text() == summary_text
    # The decoder's prompts are served as it learnt them.
    assert resolve_model(str(out), out).image_placement == "after_text"


def test_a_distilled_tower_continues_as_a_copy_of_itself(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    """A second distillation from a distilled checkpoint (96 px already) keeps its shape."""
    _, distilled = runs
    tower = CLIPVisionModel.from_pretrained(distilled / "tower")
    copy = enlarged_student(tower, 1).state_dict()
    assert copy.keys() == tower.state_dict().keys()
    assert all(torch.equal(value, copy[name]) for name, value in tower.state_dict().items())
    again = _distilled(distilled, tmp_path / "llava-demo", extra_layers=0, first_scene=8)
    assert json.loads((again / "tower" / "config.json").read_text()) == json.loads(
        (distilled / "tower" / "config.json").read_text()
    )
    first = json.loads((distilled / "training_summary.json").read_text())
    second = json.loads((again / "training_summary.json").read_text())
    assert second["tower_distillation"]["first_scene"] == "8"
    assert second["earlier_distillation"]["tower_distillation"] == first["tower_distillation"]
    assert second["config"] == first["config"]  # the decoder's data, which eval-demo asks in


def test_the_hf_export_gives_nine_image_tokens_at_the_new_size(runs: tuple[Path, Path]) -> None:
    _, out = runs
    processor = AutoProcessor.from_pretrained(out.parent / "llava-demo-hf" / "weights")
    image = render_plain(generate_scene(3))
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}],
        add_generation_prompt=True,
    )
    inputs = processor(images=[image], text=prompt, return_tensors="pt")
    assert inputs["pixel_values"].shape[-2:] == (STUDENT_CANVAS, STUDENT_CANVAS)
    image_token = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert int((inputs["input_ids"] == image_token).sum()) == 9


def test_stage2_continues_on_a_distilled_tower_at_its_picture_size(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    _, distilled = runs
    out = tmp_path / "llava-demo"
    config = TrainConfig(
        out=out,
        scenes=8,
        stage2_steps=2,
        batch_size=4,
        eval_scenes=2,
        init=distilled,
        ablations=False,
        pictures="plain",
    )
    train_demo(config)
    processor = json.loads((out / "tower" / "preprocessor_config.json").read_text())
    assert processor["size"] == {"height": STUDENT_CANVAS, "width": STUDENT_CANVAS}
    start, kept = load_file(str(distilled / TOWER_WEIGHTS)), load_file(str(out / TOWER_WEIGHTS))
    assert start.keys() == kept.keys()
    assert all(torch.equal(start[key], kept[key]) for key in start)
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["init_summary"] == json.loads((distilled / "training_summary.json").read_text())
