"""Instruction data from scene annotations, as the paper makes it from COCO with GPT-4.

Three response types (docs/demo-model.md lists every question form):
- conversation: one question about colour, shape, count, position or presence (yes/no);
  a few are questions outside the demo's world, answered with what it can answer instead;
- detail: "describe the image in detail" -> every object and where it is, in reading order;
- reasoning: relations between objects (further left/right, higher/lower, what is above or
  below an object, how many objects are not of a shape).
Plus "json", the detailed description asked for as JSON: the object count and each object's
colour, shape and position, in the shape of llava_demo/structured_eval.py's "fields" schema, so
that a client's json_schema finds the patterns the model learnt.
Plus the stage-1 caption pairs (a brief instruction -> a short caption), and multi-turn
conversations: follow-up questions about the same picture. Questions come in many phrasings
(phrasings.py); answers are short and regular, so the ground truth can score them by their
colour, shape, count and position words.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from llava_demo.phrasings import TRAINING, Phrasebook, phrase, position_phrase, shape_word
from llava_demo.scenes import COLOURS, SHAPES, Scene, SceneObject

RESPONSE_TYPES: Final = ("conversation", "detail", "reasoning")
# What stage 2 trains on: the three types, follow-up questions of any type, and descriptions
# as JSON.
STAGE2_KINDS: Final = (*RESPONSE_TYPES, "multi-turn", "json")
NUMBERS: Final = ("zero", "one", "two", "three")
BRIEF_PROMPTS: Final = (
    "Describe the image briefly.",
    "Give a short caption of the image.",
    "What is in this picture?",
)
OUT_OF_WORLD_ANSWER: Final = (
    "I can only answer questions about the shapes in the picture: "
    "their colours, how many there are and where they are."
)
OUT_OF_WORLD_SHARE: Final = 0.06  # of conversation questions
MAX_TURNS: Final = 3  # per multi-turn conversation; a few hundred tokens, within the context

# A form builder: (form name, the slots its phrasing needs, the answer).
Question = tuple[str, dict[str, str], str]


@dataclass(frozen=True)
class Sample:
    kind: str
    question: str
    answer: str
    form: str = ""
    # Earlier turns of the conversation, question and answer alternating; the image comes
    # with the first question.
    history: tuple[str, ...] = ()

    @property
    def written_answer(self) -> str:
        """The answer as the model learns to write it after "###Assistant:": with a leading
        space (the tokenizer spells a word with its space), except JSON, which structured
        outputs start at its brace (no whitespace before it)."""
        return self.answer if self.kind == "json" else " " + self.answer

    @property
    def turns(self) -> tuple[str, ...]:
        """Every user and assistant turn up to this question."""
        return (*self.history, self.question)


def caption(scene: Scene) -> str:
    """The stage-1 caption: objects and cells."""
    return ", ".join(f"a {obj.name} at the {obj.position}" for obj in scene.objects) + "."


def caption_sample(scene: Scene, rng: random.Random, book: Phrasebook) -> Sample:
    return Sample("caption", rng.choice(BRIEF_PROMPTS), caption(scene), "caption")


def description(scene: Scene) -> str:
    count = len(scene.objects)
    head = "There is one object." if count == 1 else f"There are {NUMBERS[count]} objects."
    return " ".join([head] + [f"A {obj.name} is at the {obj.position}." for obj in scene.objects])


def detail_sample(scene: Scene, rng: random.Random, book: Phrasebook) -> Sample:
    return Sample("detail", phrase("detail", {}, rng, book), description(scene), "detail")


def json_description(scene: Scene) -> str:
    """The detailed description as JSON: the count, then each object in reading order.
    Compact, as the server's structured outputs write JSON (no whitespace between tokens):
    trained with spaces, the model met a grammar that forbade the space it expected after
    every colon and lost the objects (10% found, where the count was right 91% of the time)."""
    objects = [
        {"colour": obj.colour, "shape": obj.shape, "position": obj.position}
        for obj in scene.objects
    ]
    return json.dumps({"count": len(objects), "objects": objects}, separators=(",", ":"))


def json_sample(scene: Scene, rng: random.Random, book: Phrasebook) -> Sample:
    question = phrase("detail as JSON", {}, rng, book)
    return Sample("json", question, json_description(scene), "detail as JSON")


def _plural(shape: str, count: int) -> str:
    return shape if count == 1 else shape + "s"


def _name(obj: SceneObject, rng: random.Random, book: Phrasebook) -> str:
    """The object as a question may call it: 'red circle', 'red disc', ..."""
    return f"{obj.colour} {shape_word(obj.shape, rng, book)}"


def _ask_colour(scene: Scene, rng: random.Random, book: Phrasebook) -> Question:
    obj = rng.choice(scene.objects)
    if sum(other.shape == obj.shape for other in scene.objects) == 1:
        slots = {"shape": shape_word(obj.shape, rng, book)}
        return "colour of a shape", slots, f"The {obj.shape} is {obj.colour}."
    slots = {"position": position_phrase(obj.position, rng, book)}
    return "colour at a position", slots, f"The object at the {obj.position} is {obj.colour}."


def _ask_shape(scene: Scene, rng: random.Random, book: Phrasebook) -> Question:
    obj = rng.choice(scene.objects)
    if sum(other.colour == obj.colour for other in scene.objects) == 1:
        answer = f"The {obj.colour} object is a {obj.shape}."
        return "shape of a colour", {"colour": obj.colour}, answer
    slots = {"position": position_phrase(obj.position, rng, book)}
    return "shape at a position", slots, f"The object at the {obj.position} is a {obj.shape}."


def _ask_count(scene: Scene, rng: random.Random, book: Phrasebook) -> Question:
    if rng.random() < 0.4:
        count = len(scene.objects)
        answer = "There is one object." if count == 1 else f"There are {NUMBERS[count]} objects."
        return "count all objects", {}, answer
    shape = rng.choice(SHAPES)
    count = sum(obj.shape == shape for obj in scene.objects)
    verb = "is" if count == 1 else "are"
    answer = f"There {verb} {NUMBERS[count]} {_plural(shape, count)}."
    return "count one shape", {"shapes": shape_word(shape, rng, book, plural=True)}, answer


def _ask_position(scene: Scene, rng: random.Random, book: Phrasebook) -> Question:
    obj = rng.choice(scene.objects)
    answer = f"The {obj.name} is at the {obj.position}."
    return "where is an object", {"name": _name(obj, rng, book)}, answer


def _ask_presence(scene: Scene, rng: random.Random, book: Phrasebook) -> Question:
    if rng.random() < 0.5:
        obj = rng.choice(scene.objects)
        return "presence", {"name": _name(obj, rng, book)}, f"Yes, there is a {obj.name}."
    absent = [(c, s) for c in COLOURS for s in SHAPES if scene.find(c, s) is None]
    colour, shape = rng.choice(absent)
    name = f"{colour} {shape_word(shape, rng, book)}"
    return "presence", {"name": name}, f"No, there is no {colour} {shape}."


CONVERSATION_FORMS: Final[dict[str, Callable[[Scene, random.Random, Phrasebook], Question]]] = {
    "colour": _ask_colour,
    "shape": _ask_shape,
    "count": _ask_count,
    "position": _ask_position,
    "presence": _ask_presence,
}


def conversation_sample(scene: Scene, rng: random.Random, book: Phrasebook) -> Sample:
    if "out of world" in book.templates and rng.random() < OUT_OF_WORLD_SHARE:
        return out_of_world_sample(scene, rng, book)
    ask = CONVERSATION_FORMS[rng.choice(sorted(CONVERSATION_FORMS))]
    form, slots, answer = ask(scene, rng, book)
    return Sample("conversation", phrase(form, slots, rng, book), answer, form)


def out_of_world_sample(scene: Scene, rng: random.Random, book: Phrasebook) -> Sample:
    """A question the demo cannot answer; the answer says what it can answer."""
    question = phrase("out of world", {}, rng, book)
    return Sample("conversation", question, OUT_OF_WORLD_ANSWER, "out of world")


def _compare(scene: Scene, rng: random.Random, book: Phrasebook) -> Question | None:
    a, b = rng.sample(scene.objects, 2)
    axis = rng.choice(("column", "row"))
    slots = {"a": _name(a, rng, book), "b": _name(b, rng, book)}
    if axis == "column" and a.column != b.column:
        word = rng.choice(("left", "right"))
        winner = min((a, b), key=lambda o: o.column if word == "left" else -o.column)
        answer = f"The {winner.name} is further {word}."
        return "further left / right", {**slots, "word": word}, answer
    if axis == "row" and a.row != b.row:
        word = rng.choice(("higher", "lower"))
        winner = min((a, b), key=lambda o: o.row if word == "higher" else -o.row)
        return "higher / lower", {**slots, "word": word}, f"The {winner.name} is {word}."
    return None


def _relative(scene: Scene, rng: random.Random, book: Phrasebook) -> Question:
    anchor = rng.choice(scene.objects)
    word = rng.choice(("above", "below"))
    found = [
        obj
        for obj in scene.objects
        if (obj.row < anchor.row if word == "above" else obj.row > anchor.row)
    ]
    slots = {"word": word, "anchor": _name(anchor, rng, book)}
    # Saying first where the anchor is puts its row next to the words that need it.
    where = f"The {anchor.name} is at the {anchor.position}, so"
    if not found:
        return "what is above / below", slots, f"{where} nothing is {word} it."
    names = " and ".join(f"the {obj.name}" for obj in found)
    verb = "is" if len(found) == 1 else "are"
    return "what is above / below", slots, f"{where} {names} {verb} {word} it."


def _not_shape(scene: Scene, rng: random.Random, book: Phrasebook) -> Question:
    shape = rng.choice(SHAPES)
    count = sum(obj.shape != shape for obj in scene.objects)
    answer = f"The number of objects that are not {shape}s is {NUMBERS[count]}."
    slots = {"shapes": shape_word(shape, rng, book, plural=True)}
    return "count objects not of a shape", slots, answer


def reasoning_sample(scene: Scene, rng: random.Random, book: Phrasebook) -> Sample:
    choice = rng.random()
    asked: Question | None = None
    if len(scene.objects) >= 2 and choice < 0.4:
        asked = _compare(scene, rng, book)
    if asked is None:
        asked = _relative(scene, rng, book) if choice < 0.75 else _not_shape(scene, rng, book)
    form, slots, answer = asked
    return Sample("reasoning", phrase(form, slots, rng, book), answer, form)


BUILDERS: Final[dict[str, Callable[[Scene, random.Random, Phrasebook], Sample]]] = {
    "caption": caption_sample,
    "conversation": conversation_sample,
    "detail": detail_sample,
    "reasoning": reasoning_sample,
    "json": json_sample,
}


def make_sample(
    scene: Scene, kind: str, salt: int = 0, book: Phrasebook = TRAINING, earlier_turns: int = 0
) -> Sample:
    """The sample of one kind for a scene, after `earlier_turns` question-answer turns about
    the same picture; deterministic from the scene's seed and the salt. Kind "multi-turn"
    draws the type and one or two earlier turns (the training data's follow-up questions)."""
    rng = random.Random(f"{scene.seed}:{kind}:{salt}")
    if kind == "multi-turn":
        kind, earlier_turns = rng.choice(RESPONSE_TYPES), rng.randrange(1, MAX_TURNS)
    history: list[str] = []
    for _ in range(earlier_turns):
        earlier = BUILDERS[rng.choice(RESPONSE_TYPES)](scene, rng, book)
        history += [earlier.question, earlier.answer]
    last = BUILDERS[kind](scene, rng, book)
    return Sample(last.kind, last.question, last.answer, last.form, tuple(history))
