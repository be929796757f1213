"""Synthetic scenes with ground truth, deterministic from a seed.

Grammar (docs/demo-model.md): a canvas divided into a 3x3 grid of cells; one to three objects
(weights 1:2:2), each in its own cell (so none overlap); an object is a shape (circle, square,
triangle) of one colour of a fixed set of names; no two objects share both colour and shape,
so "the red circle" always names exactly one object. How a scene looks (canvas size, shades,
sizes, offsets, background, compression) is the renderers' business (render.py for training,
render_eval.py for evaluation only); the vision tower sees every canvas resized to a square of
3x3 patches (48 or 96 pixels), so each cell is one of its patches.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

CANVAS: Final = 48
# Training uses seeds 0 .. scenes-1; evaluation seeds start far above any training run's.
EVAL_SEED_BASE: Final = 1_000_000
CELL: Final = CANVAS // 3
SHAPE_SIZE: Final = 12
BACKGROUND: Final = (255, 255, 255)
PALETTE: Final[dict[str, tuple[int, int, int]]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (235, 200, 20),
    "purple": (140, 50, 180),
}
COLOURS: Final = tuple(PALETTE)
SHAPES: Final = ("circle", "square", "triangle")
ROWS: Final = ("top", "middle", "bottom")
COLUMNS: Final = ("left", "center", "right")
MAX_OBJECTS: Final = 3


def position_name(row: int, column: int) -> str:
    """'top left' ... 'bottom right'; the middle cell is just 'center'."""
    if (row, column) == (1, 1):
        return "center"
    return f"{ROWS[row]} {COLUMNS[column]}"


POSITIONS: Final = tuple(position_name(row, column) for row in range(3) for column in range(3))


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    row: int
    column: int

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def position(self) -> str:
        return position_name(self.row, self.column)


@dataclass(frozen=True)
class Scene:
    """The annotation: objects in reading order (row by row, left to right)."""

    seed: int
    objects: tuple[SceneObject, ...]

    def find(self, colour: str, shape: str) -> SceneObject | None:
        matches = [obj for obj in self.objects if (obj.colour, obj.shape) == (colour, shape)]
        return matches[0] if matches else None


def generate_scene(seed: int) -> Scene:
    """The scene of a seed: the same seed always gives the same scene."""
    rng = random.Random(seed)
    # Fewer lone objects: relations need two or more.
    count = rng.choices(range(1, MAX_OBJECTS + 1), weights=(1, 2, 2))[0]
    cells = sorted(rng.sample(range(9), count))
    kinds = rng.sample([(colour, shape) for colour in COLOURS for shape in SHAPES], count)
    objects = tuple(
        SceneObject(colour, shape, cell // 3, cell % 3)
        for cell, (colour, shape) in zip(cells, kinds, strict=True)
    )
    return Scene(seed, objects)
