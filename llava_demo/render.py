"""The training renderer: a scene's picture in a style drawn from its seed.

Pictures vary as people's do: canvas sizes from tiny to phone-photo sized and aspect ratios
from 1:2 to 2:1, backgrounds (white, paper, greys, pale tints, dark; flat or fading in any
direction), shades of each named colour, object sizes, positions off the cell centres, squares
turned a little and triangles any way, anti-aliased or hard edges, outlines, blur, grey film
grain, JPEG compression. One in five scenes keeps the plain look (48x48, white, the base shades,
centred, 12 pixels wide). The tower sees every canvas resized to a square of 3x3 patches (its
image processor), so the 3x3 grid of the scene always meets the 3x3 grid of patches.

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

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

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
GRADIENT_STEPS: Final = 64  # a gradient is drawn this small and enlarged: it is smooth anyway


@dataclass(frozen=True)
class Style:
    width: int
    height: int
    background: tuple[int, int, int]
    size: float  # an object's width, as a share of its cell's shorter side
    antialias: bool
    outline: bool
    jpeg_quality: int | None  # None: no compression
    # The background fades to this colour along gradient_angle (radians); None: flat.
    fade_to: tuple[int, int, int] | None = None
    gradient_angle: float = 0.0
    turns: bool = False  # squares may be turned a little, triangles any way
    blur: float = 0.0  # Gaussian blur radius, in pixels of a 96-pixel canvas
    grain: float = 0.0  # standard deviation of grey film grain; 0: none


def plain_style() -> Style:
    return Style(CANVAS, CANVAS, (255, 255, 255), 0.75, False, False, None)


def draw_style(rng: random.Random) -> Style:
    if rng.random() < PLAIN_SHARE:
        return plain_style()
    width = round(math.exp(rng.uniform(math.log(32), math.log(1600))))
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    height = max(24, round(width / aspect))
    background = _background(rng)
    return Style(
        width,
        height,
        background,
        rng.uniform(0.35, 0.9),
        rng.random() < 0.5,
        rng.random() < 0.25,
        rng.randrange(30, 95) if rng.random() < 0.3 else None,
        _fade_to(rng),
        rng.uniform(0, 2 * math.pi),
        rng.random() < 0.5,
        rng.uniform(0.3, 1.2) if rng.random() < 0.2 else 0.0,
        rng.uniform(2, 12) if rng.random() < 0.3 and max(width, height) <= 400 else 0.0,
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


def _fade_to(rng: random.Random) -> tuple[int, int, int] | None:
    """Half of the backgrounds are flat; the others fade to a pale tint or, now and then, to
    a dark grey (as a photo's light falls off)."""
    if rng.random() < 0.5:
        return None
    if rng.random() < 0.15:
        grey = rng.randrange(10, 90)
        return (grey, grey, grey)
    return tuple(rng.randrange(200, 256) for _ in range(3))  # type: ignore[return-value]


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
    return render_styled(scene, 0)


def render_styled(scene: Scene, style: int) -> Image.Image:
    """The scene in its `style`-th style (0: render_scene's), each drawn from its own seed:
    the tower's distillation sees every scene in several."""
    rng = random.Random(f"{scene.seed}:style" + (f" {style}" if style else ""))
    return _render(scene, draw_style(rng), rng)


def render_plain(scene: Scene) -> Image.Image:
    """The plain look alone (the demo's first checkpoints saw nothing else)."""
    return _render(scene, plain_style(), random.Random(scene.seed))


Renderer = Callable[[Scene], Image.Image]
# Training's pictures by name (`train --pictures`, `eval --pictures`).
PICTURES: Final[dict[str, Renderer]] = {
    "varied": render_scene,
    "plain": render_plain,
}


def _render(scene: Scene, style: Style, rng: random.Random) -> Image.Image:
    small = max(style.width, style.height) <= MAX_SUPERSAMPLED_SIDE
    scale = SUPERSAMPLE if style.antialias and small else 1
    image = _canvas(style, (style.width * scale, style.height * scale))
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        _draw_object(draw, obj, style, scale, rng)
    if scale > 1:
        image = image.resize((style.width, style.height), Image.Resampling.LANCZOS)
    if style.blur:
        radius = style.blur * max(style.width, style.height) / 96
        image = image.filter(ImageFilter.GaussianBlur(radius))
    if style.grain:
        image = _grain(image, style.grain, rng)
    if style.jpeg_quality is not None:
        image = _jpeg(image, style.jpeg_quality)
    return image


def _canvas(style: Style, size: tuple[int, int]) -> Image.Image:
    if style.fade_to is None:
        return Image.new("RGB", size, style.background)
    steps = np.linspace(0.0, 1.0, GRADIENT_STEPS)
    along = (
        np.cos(style.gradient_angle) * steps[None, :]
        + np.sin(style.gradient_angle) * steps[:, None]
    )
    along = (along - along.min()) / (along.max() - along.min())
    start, end = np.array(style.background, float), np.array(style.fade_to, float)
    pixels = start * (1 - along[..., None]) + end * along[..., None]
    small = Image.fromarray(pixels.round().astype(np.uint8), "RGB")
    return small.resize(size, Image.Resampling.BILINEAR)


def _grain(image: Image.Image, strength: float, rng: random.Random) -> Image.Image:
    """Grey grain: the same noise on the three channels, so no pixel gains a colour."""
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, strength, image.size[::-1])
    pixels = np.asarray(image, dtype=float) + noise[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), "RGB")


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
        return
    corners = _corners(obj.shape, box, _turn(obj.shape, style, rng))
    draw.polygon(corners, fill=fill, outline=outline, width=width)


def _turn(shape: str, style: Style, rng: random.Random) -> float:
    """Radians: a square turned up to 20 degrees half the time; a triangle upright half the
    time, else pointing down or any way. People still call them squares and triangles."""
    if not style.turns:
        return 0.0
    if shape == "square":
        return math.radians(rng.uniform(-20, 20)) if rng.random() < 0.5 else 0.0
    draw = rng.random()
    return 0.0 if draw < 0.5 else math.pi if draw < 0.7 else rng.uniform(0, 2 * math.pi)


def _corners(
    shape: str, box: tuple[float, float, float, float], turn: float
) -> list[tuple[float, float]]:
    """The polygon's corners in its box, turned about the box's centre; a turned square is
    shrunk so that it still fits the box."""
    left, top, right, bottom = box
    if shape == "square":
        corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
        shrink = 1 / (abs(math.cos(turn)) + abs(math.sin(turn)))
    else:
        corners = [((left + right) / 2, top), (right, bottom), (left, bottom)]
        shrink = 1.0
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    cos, sin = math.cos(turn) * shrink, math.sin(turn) * shrink
    return [
        (
            centre_x + (x - centre_x) * cos - (y - centre_y) * sin,
            centre_y + (x - centre_x) * sin + (y - centre_y) * cos,
        )
        for x, y in corners
    ]


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")
