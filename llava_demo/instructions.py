"""Instruction data from scene annotations, as the paper makes it from COCO with GPT-4.

Three response types (docs/demo-model.md lists every question form):
- conversation: one question about colour, shape, count, position or presence (yes/no);
- detail: "describe the image in detail" -> every object and where it is, in reading order;
- reasoning: relations between objects (further left/right, higher/lower, what is above or
  below an object, how many objects are not of a shape).
Plus the stage-1 caption pairs (a brief instruction -> a short caption). Answers are short and
regular, so the ground truth can score them by their colour, shape, count and position words.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from llava_demo.scenes import COLOURS, SHAPES, Scene

RESPONSE_TYPES: Final = ("conversation", "detail", "reasoning")
NUMBERS: Final = ("zero", "one", "two", "three")
BRIEF_PROMPTS: Final = (
    "Describe the image briefly.",
    "Give a short caption of the image.",
    "What is in this picture?",
)
DETAIL_PROMPTS: Final = (
    "Describe the image in detail.",
    "Describe every object in the image and where it is.",
)


@dataclass(frozen=True)
class Sample:
    kind: str
    question: str
    answer: str


def caption(scene: Scene) -> str:
    """The stage-1 caption (and the contrastive encoder's text): objects and cells."""
    return ", ".join(f"a {obj.name} at the {obj.position}" for obj in scene.objects) + "."


def caption_sample(scene: Scene, rng: random.Random) -> Sample:
    return Sample("caption", rng.choice(BRIEF_PROMPTS), caption(scene))


def detail_sample(scene: Scene, rng: random.Random) -> Sample:
    count = len(scene.objects)
    head = "There is one object." if count == 1 else f"There are {NUMBERS[count]} objects."
    parts = [head] + [f"A {obj.name} is at the {obj.position}." for obj in scene.objects]
    return Sample("detail", rng.choice(DETAIL_PROMPTS), " ".join(parts))


def _plural(shape: str, count: int) -> str:
    return shape if count == 1 else shape + "s"


def _ask_colour(scene: Scene, rng: random.Random) -> tuple[str, str]:
    obj = rng.choice(scene.objects)
    if sum(other.shape == obj.shape for other in scene.objects) == 1:
        return f"What colour is the {obj.shape}?", f"The {obj.shape} is {obj.colour}."
    at = f"the object at the {obj.position}"
    return f"What colour is {at}?", f"The object at the {obj.position} is {obj.colour}."


def _ask_shape(scene: Scene, rng: random.Random) -> tuple[str, str]:
    obj = rng.choice(scene.objects)
    if sum(other.colour == obj.colour for other in scene.objects) == 1:
        question = f"What shape is the {obj.colour} object?"
        return question, f"The {obj.colour} object is a {obj.shape}."
    question = f"What shape is at the {obj.position}?"
    return question, f"The object at the {obj.position} is a {obj.shape}."


def _ask_count(scene: Scene, rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.4:
        count = len(scene.objects)
        answer = "There is one object." if count == 1 else f"There are {NUMBERS[count]} objects."
        return "How many objects are there?", answer
    shape = rng.choice(SHAPES)
    count = sum(obj.shape == shape for obj in scene.objects)
    verb = "is" if count == 1 else "are"
    answer = f"There {verb} {NUMBERS[count]} {_plural(shape, count)}."
    return f"How many {shape}s are there?", answer


def _ask_position(scene: Scene, rng: random.Random) -> tuple[str, str]:
    obj = rng.choice(scene.objects)
    return f"Where is the {obj.name}?", f"The {obj.name} is at the {obj.position}."


def _ask_presence(scene: Scene, rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        name = rng.choice(scene.objects).name
        return f"Is there a {name} in the image?", f"Yes, there is a {name}."
    absent = [f"{c} {s}" for c in COLOURS for s in SHAPES if scene.find(c, s) is None]
    name = rng.choice(absent)
    return f"Is there a {name} in the image?", f"No, there is no {name}."


CONVERSATION_FORMS: Final[dict[str, Callable[[Scene, random.Random], tuple[str, str]]]] = {
    "colour": _ask_colour,
    "shape": _ask_shape,
    "count": _ask_count,
    "position": _ask_position,
    "presence": _ask_presence,
}


def conversation_sample(scene: Scene, rng: random.Random) -> Sample:
    form = rng.choice(sorted(CONVERSATION_FORMS))
    question, answer = CONVERSATION_FORMS[form](scene, rng)
    return Sample("conversation", question, answer)


def _compare(scene: Scene, rng: random.Random) -> tuple[str, str] | None:
    a, b = rng.sample(scene.objects, 2)
    axis = rng.choice(("column", "row"))
    if axis == "column" and a.column != b.column:
        word = rng.choice(("left", "right"))
        winner = min((a, b), key=lambda o: o.column if word == "left" else -o.column)
        question = f"Which is further {word}, the {a.name} or the {b.name}?"
        return question, f"The {winner.name} is further {word}."
    if axis == "row" and a.row != b.row:
        word = rng.choice(("higher", "lower"))
        winner = min((a, b), key=lambda o: o.row if word == "higher" else -o.row)
        return f"Which is {word}, the {a.name} or the {b.name}?", f"The {winner.name} is {word}."
    return None


def _relative(scene: Scene, rng: random.Random) -> tuple[str, str]:
    anchor = rng.choice(scene.objects)
    word = rng.choice(("above", "below"))
    found = [
        obj
        for obj in scene.objects
        if (obj.row < anchor.row if word == "above" else obj.row > anchor.row)
    ]
    question = f"What is {word} the {anchor.name}?"
    # Saying first where the anchor is puts its row next to the words that need it.
    where = f"The {anchor.name} is at the {anchor.position}, so"
    if not found:
        return question, f"{where} nothing is {word} it."
    names = " and ".join(f"the {obj.name}" for obj in found)
    verb = "is" if len(found) == 1 else "are"
    return question, f"{where} {names} {verb} {word} it."


def _not_shape(scene: Scene, rng: random.Random) -> tuple[str, str]:
    shape = rng.choice(SHAPES)
    count = sum(obj.shape != shape for obj in scene.objects)
    question = f"How many objects are not {shape}s?"
    return question, f"The number of objects that are not {shape}s is {NUMBERS[count]}."


def reasoning_sample(scene: Scene, rng: random.Random) -> Sample:
    choice = rng.random()
    pair: tuple[str, str] | None = None
    if len(scene.objects) >= 2 and choice < 0.4:
        pair = _compare(scene, rng)
    if pair is None:
        pair = _relative(scene, rng) if choice < 0.75 else _not_shape(scene, rng)
    return Sample("reasoning", *pair)


BUILDERS: Final[dict[str, Callable[[Scene, random.Random], Sample]]] = {
    "caption": caption_sample,
    "conversation": conversation_sample,
    "detail": detail_sample,
    "reasoning": reasoning_sample,
}


def make_sample(scene: Scene, kind: str, salt: int = 0) -> Sample:
    """The sample of one kind for a scene; deterministic from the scene's seed and the salt."""
    rng = random.Random(f"{scene.seed}:{kind}:{salt}")
    return BUILDERS[kind](scene, rng)
