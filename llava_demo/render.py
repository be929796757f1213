"""The training renderer: a scene's picture in a style drawn from its seed.

Pictures vary as people's do: canvas sizes from tiny to phone-photo sized and aspect ratios
from 1:2 to 2:1, backgrounds (white, paper, greys, pale tints, dark), shades of each named
colour, object sizes, positions off the cell centres, anti-aliased or hard edges, outlines,
JPEG compression. One in five scenes keeps the plain look (48x48, white, the base shades,
centred, 12 pixels wide). The tower sees every canvas resized to 48x48 (its image processor),
so the 3x3 grid of the scene always meets the 3x3 grid of patches.

render_eval.py draws the same annotations with other code, shades and layouts, for evaluation.
"""

from __future__ import annotations

import colorsys
import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageDraw

from llava_demo.scenes import CANVAS, Scene, SceneObject

# The base shade of each colour name; the styles vary hue, saturation and value around it.
PALETTE: Final[dict[str, tuple[int, int, int]]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (235, 200, 20),
    "purple": (140, 50, 180),
}
# How far a shade may stray in hue (degrees) while people still call it by its name.
_HUE_SPREAD: Final[dict[str, float]] = {
    "red": 10.0,
    "green": 25.0,
    "blue": 15.0,
    "yellow": 6.0,
    "purple": 15.0,
}
PLAIN_SHARE: Final = 0.2
SUPERSAMPLE: Final = 4  # anti-aliasing: draw this much larger, then shrink
MAX_SUPERSAMPLED_SIDE: Final = 400  # larger canvases hardly alias at the tower's 48 px


@dataclass(frozen=True)
class Style:
    width: int
    height: int
    background: tuple[int, int, int]
    size: float  # an object's width, as a share of its cell's shorter side
    antialias: bool
    outline: bool
    jpeg_quality: int | None  # None: no compression


def plain_style() -> Style:
    return Style(CANVAS, CANVAS, (255, 255, 255), 0.75, False, False, None)


def draw_style(rng: random.Random) -> Style:
    if rng.random() < PLAIN_SHARE:
        return plain_style()
    width = round(math.exp(rng.uniform(math.log(32), math.log(1600))))
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    height = max(24, round(width / aspect))
    return Style(
        width,
        height,
        _background(rng),
        rng.uniform(0.35, 0.9),
        rng.random() < 0.5,
        rng.random() < 0.25,
        rng.randrange(30, 95) if rng.random() < 0.3 else None,
    )


def _background(rng: random.Random) -> tuple[int, int, int]:
    draw = rng.random()
    if draw < 0.4:
        return (255, 255, 255)
    if draw < 0.65:
        grey = rng.randrange(170, 250)
        return (grey, grey, grey)
    if draw < 0.9:  # a pale tint: paper, sky, mint, ...
        return tuple(rng.randrange(215, 256) for _ in range(3))  # type: ignore[return-value]
    grey = rng.randrange(20, 70)  # dark mode
    return (grey, grey, grey)


def shade(colour: str, rng: random.Random) -> tuple[int, int, int]:
    """A shade people would still call `colour`."""
    hue, saturation, value = colorsys.rgb_to_hsv(*(c / 255 for c in PALETTE[colour]))
    hue = (hue + rng.uniform(-1, 1) * _HUE_SPREAD[colour] / 360) % 1.0
    saturation = min(1.0, saturation * rng.uniform(0.75, 1.1))
    value = min(1.0, value * rng.uniform(0.75, 1.1))
    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
    return (round(red * 255), round(green * 255), round(blue * 255))


def render_scene(scene: Scene) -> Image.Image:
    """The scene's picture; the same seed always gives the same pixels."""
    rng = random.Random(f"{scene.seed}:style")
    return _render(scene, draw_style(rng), rng)


def render_plain(scene: Scene) -> Image.Image:
    """The plain look alone (the demo's first checkpoints saw nothing else)."""
    return _render(scene, plain_style(), random.Random(scene.seed))


# Training's pictures by name (`train --pictures`, `eval --pictures`).
PICTURES: Final[dict[str, Callable[[Scene], Image.Image]]] = {
    "varied": render_scene,
    "plain": render_plain,
}


def _render(scene: Scene, style: Style, rng: random.Random) -> Image.Image:
    small = max(style.width, style.height) <= MAX_SUPERSAMPLED_SIDE
    scale = SUPERSAMPLE if style.antialias and small else 1
    image = Image.new("RGB", (style.width * scale, style.height * scale), style.background)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        _draw_object(draw, obj, style, scale, rng)
    if scale > 1:
        image = image.resize((style.width, style.height), Image.Resampling.LANCZOS)
    if style.jpeg_quality is not None:
        image = _jpeg(image, style.jpeg_quality)
    return image


def _draw_object(
    draw: ImageDraw.ImageDraw, obj: SceneObject, style: Style, scale: int, rng: random.Random
) -> None:
    cell_w, cell_h = style.width * scale / 3, style.height * scale / 3
    side = max(3.0, style.size * min(cell_w, cell_h))
    fill = PALETTE[obj.colour] if style == plain_style() else shade(obj.colour, rng)
    left = obj.column * cell_w + rng.uniform(0.05, 0.95) * (cell_w - side)
    top = obj.row * cell_h + rng.uniform(0.05, 0.95) * (cell_h - side)
    if style == plain_style():  # the plain look: centred in the cell
        left, top = (
            obj.column * cell_w + (cell_w - side) / 2,
            obj.row * cell_h + (cell_h - side) / 2,
        )
    box = (left, top, left + side - 1, top + side - 1)
    outline = tuple(round(c * 0.5) for c in fill) if style.outline else None
    width = max(1, round(side / 12)) if outline else 0
    if obj.shape == "circle":
        draw.ellipse(box, fill=fill, outline=outline, width=width)
    elif obj.shape == "square":
        draw.rectangle(box, fill=fill, outline=outline, width=width)
    else:
        apex = ((box[0] + box[2]) / 2, box[1])
        corners = [apex, (box[2], box[3]), (box[0], box[3])]
        draw.polygon(corners, fill=fill, outline=outline, width=width)


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")
