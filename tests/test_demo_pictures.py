"""The two renderers: deterministic, varied, independent, and every object drawn in its cell
(saturated pixels there; none in the middle of an empty cell)."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import llava_demo
from llava_demo.cli import main, trained_on
from llava_demo.eval_sets import TrainedOn, eval_sets
from llava_demo.phrasings import CANONICAL
from llava_demo.render import render_plain, render_scene
from llava_demo.render_eval import render_scene_eval
from llava_demo.scenes import Scene, generate_scene

Renderer = Callable[[Scene], Image.Image]
RENDERERS = [render_scene, render_scene_eval]
PACKAGE = Path(llava_demo.__file__).parent


def _saturated(image: Image.Image, box: tuple[float, float, float, float]) -> bool:
    """Whether any pixel in the box is clearly coloured (not white, grey or a pale tint)."""
    left, top, right, bottom = (round(v) for v in box)
    crop = np.asarray(image.crop((left, top, right, bottom)).convert("RGB"), dtype=float)
    if not crop.size:
        return False
    high, low = crop.max(axis=-1), crop.min(axis=-1)
    saturation = (high - low) / np.maximum(high, 1.0)  # HSV saturation, value = high / 255
    return bool(((saturation > 0.35) & (high > 0.3 * 255)).any())


@pytest.mark.parametrize("renderer", RENDERERS)
def test_every_object_is_drawn_in_its_cell(renderer: Renderer) -> None:
    for seed in range(1_000_000, 1_000_060):
        scene = generate_scene(seed)
        image = renderer(scene)
        cell_w, cell_h = image.width / 3, image.height / 3
        occupied = {(obj.row, obj.column) for obj in scene.objects}
        for row in range(3):
            for column in range(3):
                left, top = column * cell_w, row * cell_h
                if (row, column) in occupied:
                    box = (left, top, left + cell_w, top + cell_h)
                    assert _saturated(image, box), (seed, row, column)
                else:  # the middle half of an empty cell
                    box = (
                        left + cell_w / 4,
                        top + cell_h / 4,
                        left + cell_w * 3 / 4,
                        top + cell_h * 3 / 4,
                    )
                    assert not _saturated(image, box), (seed, row, column)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_same_seed_same_pixels(renderer: Renderer) -> None:
    for seed in (0, 5, 1_000_003):
        assert renderer(generate_scene(seed)).tobytes() == renderer(generate_scene(seed)).tobytes()


def test_training_pictures_vary_in_size_shape_and_background() -> None:
    images = [render_scene(generate_scene(seed)) for seed in range(200)]
    sizes = {image.size for image in images}
    assert len(sizes) > 100
    assert min(w for w, _ in sizes) <= 48 and max(w for w, _ in sizes) >= 800
    ratios = [w / h for w, h in sizes]
    assert min(ratios) < 0.7 and max(ratios) > 1.4
    corners = {image.getpixel((0, 0)) for image in images}
    assert len(corners) > 30
    assert (255, 255, 255) in corners  # the plain look stays in the mix
    faded = [image for image in images if _spread(*_opposite_corners(image)) > 30]
    assert len(faded) > 20  # backgrounds fading across the picture


def _opposite_corners(image: Image.Image) -> tuple[tuple[int, ...], tuple[int, ...]]:
    pixels = np.asarray(image).astype(int)  # uint8 differences would wrap around
    return tuple(pixels[0, 0]), tuple(pixels[-1, -1])


def _spread(first: tuple[int, ...], second: tuple[int, ...]) -> int:
    return max(abs(a - b) for a, b in zip(first, second, strict=True))


def test_the_second_renderer_shares_no_drawing_code() -> None:
    tree = ast.parse((PACKAGE / "render_eval.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported & {"llava_demo.render", "llava_demo.train"} == set()
    assert "llava_demo.scenes" in imported  # the annotation only


def test_training_never_reads_the_second_renderer_or_the_heldout_phrasings() -> None:
    modules = ("train", "batches", "lm_pretrain", "model", "instructions", "encoder_pretrain")
    for name in (*modules, "tower_distil"):
        source = (PACKAGE / f"{name}.py").read_text()
        assert "render_eval" not in source and "heldout" not in source, name


def test_evaluation_asks_as_the_model_learnt(tmp_path: Path) -> None:
    """A model trained with `--pictures plain --phrasings canonical` is asked about plain
    pictures in canonical words (eval's default, read from the training summary); the held-out
    phrasings and the second renderer stay what they are."""
    sets = {s.name: s for s in eval_sets(TrainedOn("plain", "canonical"))}
    assert sets["own generator"].renderer is render_plain
    assert sets["follow-up turn"].renderer is render_plain
    assert sets["second renderer"].renderer is render_scene_eval
    assert sets["own generator"].book.templates == CANONICAL.templates
    assert sets["held-out phrasings"].book.templates != CANONICAL.templates
    assert eval_sets()[0].renderer is render_scene
    summary = tmp_path / "training_summary.json"
    summary.write_text(json.dumps({"config": {"seed": "3"}}))
    assert trained_on(summary) == TrainedOn()  # trained before the choices existed
    summary.write_text(json.dumps({"config": {"pictures": "plain", "phrasings": "canonical"}}))
    assert trained_on(summary) == TrainedOn("plain", "canonical")


def test_evaluation_refuses_a_missing_summary_unless_told(tmp_path: Path) -> None:
    """Without a training summary eval-demo cannot know what the model learnt from: it says so
    before asking anything (no server is needed to reach the refusal)."""
    summary = str(tmp_path / "none.json")
    missing = ["eval", "--summary", summary, "--base-url", "http://127.0.0.1:9", "--wait", "0"]
    with pytest.raises(SystemExit, match=r"no training summary at .*none\.json"):
        main(missing)
