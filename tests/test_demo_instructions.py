"""The generated answers are true of their scene: presence, comparisons and relations on a
scene built by hand."""

from __future__ import annotations

import random
from collections.abc import Callable

from llava_demo.instructions import CONVERSATION_FORMS, _compare, _relative
from llava_demo.scenes import Scene, SceneObject

RED_CIRCLE = SceneObject("red", "circle", 0, 0)  # top left
BLUE_SQUARE = SceneObject("blue", "square", 1, 1)  # center
SCENE = Scene(seed=0, objects=(RED_CIRCLE, BLUE_SQUARE))
Form = Callable[[Scene, random.Random], tuple[str, str] | None]


def _all_answers(form: Form, scene: Scene) -> dict[str, str]:
    """Every (question -> answer) the form gives for the scene over many draws."""
    pairs = (form(scene, random.Random(draw)) for draw in range(400))
    return {question: answer for question, answer in (pair for pair in pairs if pair)}


def test_presence_answers_yes_only_for_an_object_in_the_scene() -> None:
    answers = _all_answers(CONVERSATION_FORMS["presence"], SCENE)
    assert answers["Is there a red circle in the image?"] == "Yes, there is a red circle."
    assert answers["Is there a red square in the image?"] == "No, there is no red square."
    assert answers["Is there a blue circle in the image?"] == "No, there is no blue circle."


def test_comparisons_name_the_winner() -> None:
    answers = _all_answers(_compare, SCENE)
    question = "Which is further {}, the red circle or the blue square?"
    assert answers[question.format("left")] == "The red circle is further left."
    assert answers[question.format("right")] == "The blue square is further right."
    assert answers["Which is lower, the red circle or the blue square?"] == (
        "The blue square is lower."
    )


def test_relative_says_where_the_anchor_is_then_lists_what_is_above_or_below() -> None:
    answers = _all_answers(_relative, SCENE)
    assert answers["What is below the red circle?"] == (
        "The red circle is at the top left, so the blue square is below it."
    )
    assert answers["What is above the red circle?"] == (
        "The red circle is at the top left, so nothing is above it."
    )
    assert answers["What is above the blue square?"] == (
        "The blue square is at the center, so the red circle is above it."
    )
    assert answers["What is below the blue square?"] == (
        "The blue square is at the center, so nothing is below it."
    )
