"""A second, independent renderer, for evaluation only: training never sees its pictures.

It shares nothing with render.py but the annotation: pixels are computed with numpy from each
shape's signed distance (soft edges of a random width), the shades come from their own table
and spread, backgrounds are vertical gradients or speckled, canvases are drawn from their own
sizes (the 64x64 of a quick test, screenshots, photos), squares may be turned a little and
triangles point up or down. If the demo model answers these pictures as well as its own, it
learnt colours, shapes and places rather than one renderer's pixels.
"""

from __future__ import annotations

import colorsys
import math
import random
from typing import Final

import numpy as np
from PIL import Image

from llava_demo.scenes import Scene, SceneObject

# Its own idea of each colour: (hue in degrees, saturation, value) centres.
_HSV: Final[dict[str, tuple[float, float, float]]] = {
    "red": (355.0, 0.85, 0.85),
    "green": (120.0, 0.7, 0.6),
    "blue": (215.0, 0.8, 0.8),
    "yellow": (55.0, 0.85, 0.95),
    "purple": (275.0, 0.6, 0.65),
}
_SIZES: Final = ((64, 64), (96, 96), (128, 96), (200, 150), (320, 240), (360, 640), (800, 600))


def _colour(name: str, rng: random.Random) -> np.ndarray:
    hue, saturation, value = _HSV[name]
    hue = (hue + rng.uniform(-6, 6)) % 360 / 360
    saturation = min(1.0, saturation + rng.uniform(-0.1, 0.1))
    value = min(1.0, value + rng.uniform(-0.1, 0.1))
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value)) * 255


def _background(height: int, width: int, rng: random.Random) -> np.ndarray:
    top = np.array([rng.uniform(190, 255) for _ in range(3)])
    bottom = np.array([rng.uniform(190, 255) for _ in range(3)])
    fade = np.linspace(0, 1, height)[:, None, None]
    canvas = np.broadcast_to(top * (1 - fade) + bottom * fade, (height, width, 3)).copy()
    if rng.random() < 0.5:  # speckle, as a scanned page
        canvas += np.random.default_rng(rng.randrange(1 << 30)).normal(0, 6, canvas.shape)
    return canvas


def _distance(obj: SceneObject, x: np.ndarray, y: np.ndarray, rng: random.Random) -> np.ndarray:
    """Signed distance (pixels, negative inside) of the pixel grid to the shape, centred at 0."""
    # Shapes are drawn in units of their half-width; the caller scales to pixels.
    distance: np.ndarray
    if obj.shape == "circle":
        distance = np.hypot(x, y) - 1.0
    elif obj.shape == "square":
        turn = math.radians(rng.uniform(-12, 12))
        u = x * math.cos(turn) + y * math.sin(turn)
        v = -x * math.sin(turn) + y * math.cos(turn)
        distance = np.maximum(np.abs(u), np.abs(v)) - 0.85
    else:
        v = y * (1.0 if rng.random() < 0.7 else -1.0)  # mostly pointing up
        # An equilateral triangle: three half-planes.
        edges = [v - 0.5, (np.sqrt(3) * x - v) / 2 - 0.5, (-np.sqrt(3) * x - v) / 2 - 0.5]
        distance = np.maximum.reduce(edges)
    return distance


def render_scene_eval(scene: Scene) -> Image.Image:
    rng = random.Random(f"{scene.seed}:second renderer")
    width, height = rng.choice(_SIZES)
    if rng.random() < 0.5:
        width, height = height, width
    canvas = _background(height, width, rng)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    cell_w, cell_h = width / 3, height / 3
    for obj in scene.objects:
        half = rng.uniform(0.25, 0.4) * min(cell_w, cell_h)
        centre_x = (obj.column + 0.5 + rng.uniform(-0.5, 0.5) * (1 - 2 * half / cell_w)) * cell_w
        centre_y = (obj.row + 0.5 + rng.uniform(-0.5, 0.5) * (1 - 2 * half / cell_h)) * cell_h
        distance = _distance(obj, (xs - centre_x) / half, (ys - centre_y) / half, rng) * half
        softness = rng.uniform(0.5, 1.5)
        cover = np.clip(0.5 - distance / softness, 0, 1)[..., None]
        canvas = canvas * (1 - cover) + _colour(obj.colour, rng) * cover
    return Image.fromarray(np.clip(canvas, 0, 255).round().astype(np.uint8), "RGB")
