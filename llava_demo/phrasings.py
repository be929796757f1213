"""How people ask: many phrasings per question form, as GPT-4 varied LLaVA-Instruct's questions.

A question is a form (what is asked, e.g. "colour of a shape") with slots (which shape); a
phrasebook maps each form to templates. Slot words vary too: both spellings (colour/color,
centre/center), a shape's other names, a position's other names. Then training's questions
may be wrapped in courtesies ("Please ...", "..., thanks"), and casing and punctuation vary.
Answers never vary: the ground truth scores them by their key words.

The training phrasebook is here; heldout_phrasings.json holds other templates of the same forms
that training never reads, so evaluation can tell following people from memorising templates.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final


@dataclass(frozen=True)
class Phrasebook:
    """Templates per form, and whether slot words and surface vary."""

    templates: Mapping[str, Sequence[str]]
    other_names: bool = True  # shapes and positions by their other names
    varied_surface: bool = True  # casing and punctuation
    colour_words: Sequence[str] = ("colour", "color")
    courtesies: bool = False  # "please", "hi", "thanks" around the question

    def without(self, form: str) -> Phrasebook:
        kept = {name: templates for name, templates in self.templates.items() if name != form}
        return replace(self, templates=kept)


HELDOUT_PATH: Final = Path(__file__).with_name("heldout_phrasings.json")

# Shapes and positions by other names; the first is the canonical one the answers use.
SHAPE_NAMES: Final[Mapping[str, Sequence[str]]] = {
    "circle": ("circle", "circle", "disc", "round shape"),
    "square": ("square", "square", "box"),
    "triangle": ("triangle",),
}
SHAPE_PLURALS: Final[Mapping[str, Sequence[str]]] = {
    "circle": ("circles", "circles", "discs"),
    "square": ("squares", "squares", "boxes"),
    "triangle": ("triangles",),
}
_ROW_NAMES: Final[Mapping[str, Sequence[str]]] = {
    "top": ("top", "top", "upper"),
    "middle": ("middle",),
    "bottom": ("bottom", "bottom", "lower"),
}
CENTRE_NAMES: Final = ("center", "centre", "middle")
# Words people put around a question that do not change what is asked. Training's own: the
# held-out templates are whole sentences, which training never reads.
COURTESY_OPENERS: Final = ("Please ", "Hi, ", "Hey, ", "OK, ", "Now ", "So ", "Hello! ")
COURTESY_CLOSERS: Final = (", please", ", thanks", " please", ", thank you")
COURTESY_SHARE: Final = 0.3

_TRAINING_TEMPLATES: Final[Mapping[str, Sequence[str]]] = {
    "colour of a shape": (
        "What {colour_word} is the {shape}?",
        "Which {colour_word} is the {shape}?",
        "What is the {colour_word} of the {shape}?",
        "Tell me the {colour_word} of the {shape}.",
        "What {colour_word} does the {shape} have?",
        "The {shape} is what {colour_word}?",
        "Name the {colour_word} of the {shape}.",
        "What {colour_word} is the {shape} in the image?",
    ),
    "colour at a position": (
        "What {colour_word} is the object at the {position}?",
        "What {colour_word} is the shape in the {position}?",
        "Which {colour_word} is the object at the {position}?",
        "What is the {colour_word} of the thing at the {position}?",
        "Tell me the {colour_word} of the object in the {position}.",
        "The object at the {position} is what {colour_word}?",
    ),
    "shape of a colour": (
        "What shape is the {colour} object?",
        "What is the shape of the {colour} object?",
        "Which shape is {colour}?",
        "What kind of shape is the {colour} one?",
        "Tell me the shape of the {colour} thing.",
        "The {colour} object is which shape?",
    ),
    "shape at a position": (
        "What shape is at the {position}?",
        "Which shape is in the {position}?",
        "What is the shape of the object at the {position}?",
        "Tell me the shape at the {position}.",
        "What kind of shape is in the {position}?",
    ),
    "count all objects": (
        "How many objects are there?",
        "How many shapes are in the image?",
        "Count the objects.",
        "What is the number of objects?",
        "How many things can you see?",
        "How many objects does the picture have?",
    ),
    "count one shape": (
        "How many {shapes} are there?",
        "Count the {shapes}.",
        "How many {shapes} can you see?",
        "How many {shapes} are in the picture?",
        "What is the number of {shapes}?",
        "How many {shapes} does the image have?",
    ),
    "where is an object": (
        "Where is the {name}?",
        "Where's the {name}?",
        "Where is the {name} located?",
        "In which part of the image is the {name}?",
        "Tell me where the {name} is.",
        "What is the position of the {name}?",
        "Find the {name}.",
    ),
    "presence": (
        "Is there a {name} in the image?",
        "Do you see a {name}?",
        "Does the picture contain a {name}?",
        "Is a {name} present?",
        "Can you find a {name} in the picture?",
        "Is there any {name}?",
    ),
    "detail": (
        "Describe the image in detail.",
        "Describe every object in the image and where it is.",
        "Give a detailed description of the image.",
        "List every object and where it is.",
        "Describe this picture in detail.",
        "Tell me what is where in the image.",
    ),
    "detail as JSON": (
        "Describe the image in detail as JSON.",
        "Describe every object as JSON: its {colour_word}, shape and position.",
        "Give the objects in the image as JSON.",
        "List every object and where it is, in JSON.",
        "Answer in JSON: what is where in the image?",
    ),
    "further left / right": (
        "Which is further {word}, the {a} or the {b}?",
        "Which one is further to the {word}: the {a} or the {b}?",
        "Is the {a} or the {b} further {word}?",
        "Of the {a} and the {b}, which is further {word}?",
    ),
    "higher / lower": (
        "Which is {word}, the {a} or the {b}?",
        "Which one is {word}: the {a} or the {b}?",
        "Is the {a} or the {b} {word}?",
        "Of the {a} and the {b}, which is {word}?",
    ),
    "what is above / below": (
        "What is {word} the {anchor}?",
        "What is there {word} the {anchor}?",
        "Which objects are {word} the {anchor}?",
        "Is anything {word} the {anchor}?",
        "Name what is {word} the {anchor}.",
    ),
    "count objects not of a shape": (
        "How many objects are not {shapes}?",
        "How many shapes are not {shapes}?",
        "Count the objects that are not {shapes}.",
        "How many objects aren't {shapes}?",
    ),
    "out of world": (
        "What is the capital of France?",
        "Who painted the Mona Lisa?",
        "What breed is the dog in this photo?",
        "Who is the person in the picture?",
        "What is the weather like in this photo?",
        "Translate 'good morning' into German.",
        "What is 17 times 23?",
        "Write a poem about the sea.",
        "What brand is the car?",
        "What time does the clock show?",
        "What is written on the sign?",
        "How old is the man in the photo?",
        "What city is this?",
        "What is the meaning of life?",
        "Tell me a joke.",
        "What food is on the plate?",
        "Who won the football match?",
        "What animal is this?",
        "What colour is the sky in this photo?",
        "How many people are standing?",
        "Where is the cat?",
    ),
}


TRAINING: Final = Phrasebook(_TRAINING_TEMPLATES, courtesies=True)
# The one phrasing per form that the demo's first checkpoints were trained on: canonical names,
# "colour", no casing or punctuation changes, no out-of-world questions.
CANONICAL: Final = Phrasebook(
    {form: templates[:1] for form, templates in _TRAINING_TEMPLATES.items()},
    other_names=False,
    varied_surface=False,
    colour_words=("colour",),
).without("out of world")


def heldout_phrasebook() -> Phrasebook:
    """The evaluation-only templates: read by evaluation, never by training."""
    templates: dict[str, list[str]] = json.loads(HELDOUT_PATH.read_text(encoding="utf-8"))
    return Phrasebook(templates)


def shape_word(shape: str, rng: random.Random, book: Phrasebook, plural: bool = False) -> str:
    """A shape's name as the book allows: 'circle', or 'disc', 'round shape', ..."""
    names = (SHAPE_PLURALS if plural else SHAPE_NAMES)[shape]
    return rng.choice(names) if book.other_names else names[0]


def position_phrase(position: str, rng: random.Random, book: Phrasebook = TRAINING) -> str:
    """'top left' as 'upper left', 'top-left', ...; 'center' as 'centre' or 'middle'."""
    if not book.other_names:
        return position
    if position == "center":
        return rng.choice(CENTRE_NAMES)
    row, column = position.split()
    row_word = rng.choice(_ROW_NAMES[row])
    column_word = "centre" if column == "center" and rng.random() < 0.3 else column
    return f"{row_word}{rng.choice((' ', ' ', '-'))}{column_word}"


def vary_surface(question: str, rng: random.Random) -> str:
    """Casing and punctuation as people type them."""
    draw = rng.random()
    if draw < 0.15:
        question = question.lower()
    elif draw < 0.18:
        question = question.upper() if len(question) < 40 else question
    draw = rng.random()
    if draw < 0.15:
        question = question.rstrip("?.")
    elif draw < 0.2:
        question = question.rstrip("?.") + "??"
    return question


def add_courtesy(question: str, rng: random.Random) -> str:
    """'Describe the image.' as 'Please describe the image.' or 'Describe the image, please.'"""
    if rng.random() < 0.5:
        return rng.choice(COURTESY_OPENERS) + question[0].lower() + question[1:]
    body = question.rstrip("?.")
    return body + rng.choice(COURTESY_CLOSERS) + question[len(body) :]


def phrase(
    form: str, slots: Mapping[str, str], rng: random.Random, book: Phrasebook = TRAINING
) -> str:
    """One phrasing of a form with its slots filled, surface varied."""
    template = rng.choice(book.templates[form])
    words = {"colour_word": rng.choice(book.colour_words), **slots}
    question = template.format(**words)
    if book.courtesies and rng.random() < COURTESY_SHARE:
        question = add_courtesy(question, rng)
    return vary_surface(question, rng) if book.varied_surface else question


# Training's phrasings by name (`train --phrasings`).
PHRASINGS: Final[dict[str, Phrasebook]] = {"varied": TRAINING, "canonical": CANONICAL}
