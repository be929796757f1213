"""What eval-demo asks: the evaluation sets, each a way to draw (picture, question) pairs.

- own generator: training's renderer and phrasings, on fresh scenes (as the paper's table);
- held-out phrasings: the same pictures, asked in phrasings training never read;
- second renderer: pictures drawn by independent code, asked in training's phrasings;
- follow-up turn: the question comes after one earlier turn about the same picture;
- out of world: held-out questions about things outside the scenes (photos, facts), which
  should get the short sentence saying what the model can answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from PIL import Image

from llava_demo.instructions import OUT_OF_WORLD_ANSWER, RESPONSE_TYPES, Sample, make_sample
from llava_demo.phrasings import PHRASINGS, Phrasebook, heldout_phrasebook
from llava_demo.render import PICTURES
from llava_demo.render_eval import render_scene_eval
from llava_demo.scenes import Scene
from llava_demo.scoring import is_correct

Renderer = Callable[[Scene], Image.Image]


@dataclass(frozen=True)
class EvalSet:
    name: str
    renderer: Renderer
    book: Phrasebook
    earlier_turns: int = 0


@dataclass(frozen=True)
class Graded:
    scene: Scene
    sample: Sample
    answer: str
    eval_set: str = "own generator"

    @property
    def correct(self) -> bool:
        return is_correct(self.answer, self.sample.answer)


def in_world(book: Phrasebook) -> Phrasebook:
    """The book without out-of-world questions: the per-type columns ask about the picture."""
    return book.without("out of world")


@dataclass(frozen=True)
class TrainedOn:
    """What a model learnt from (`train --pictures`, `--phrasings`): eval-demo asks in kind."""

    pictures: str = "varied"  # render.PICTURES
    phrasings: str = "varied"  # phrasings.PHRASINGS


VARIED_DATA: Final = TrainedOn()  # the recipe's default


def eval_sets(trained: TrainedOn = VARIED_DATA) -> tuple[EvalSet, ...]:
    """The sets: training's own pictures and phrasings, then one thing changed in each."""
    heldout = heldout_phrasebook()
    render, book = PICTURES[trained.pictures], in_world(PHRASINGS[trained.phrasings])
    return (
        EvalSet("own generator", render, book),
        EvalSet("held-out phrasings", render, in_world(heldout)),
        EvalSet("second renderer", render_scene_eval, book),
        EvalSet("follow-up turn", render, book, earlier_turns=1),
    )


OUT_OF_WORLD_SCENES: Final = 3  # each held-out out-of-world question, about this many pictures


def questions(eval_set: EvalSet, scenes: list[Scene]) -> list[tuple[Scene, Sample]]:
    """One question of each response type about each scene."""
    return [
        (scene, make_sample(scene, kind, book=eval_set.book, earlier_turns=eval_set.earlier_turns))
        for kind in RESPONSE_TYPES
        for scene in scenes
    ]


def out_of_world_questions(scenes: list[Scene]) -> list[tuple[Scene, Sample]]:
    """Each held-out out-of-world question, about a few pictures, word for word."""
    pairs = []
    for index, question in enumerate(heldout_phrasebook().templates["out of world"]):
        sample = Sample("conversation", question, OUT_OF_WORLD_ANSWER, "out of world")
        chosen = scenes[index * OUT_OF_WORLD_SCENES : (index + 1) * OUT_OF_WORLD_SCENES]
        pairs += [(scene, sample) for scene in chosen]
    return pairs
