"""The generated answers are true of their scene (presence, comparisons and relations on a
scene built by hand), whatever the phrasing; follow-up turns and out-of-world questions."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import cast

from llava_demo.instructions import (
    CONVERSATION_FORMS,
    OUT_OF_WORLD_ANSWER,
    Question,
    _compare,
    _relative,
    make_sample,
)
from llava_demo.phrasings import CANONICAL, TRAINING, Phrasebook
from llava_demo.scenes import Scene, SceneObject, generate_scene
from llava_demo.scoring import is_correct, is_refusal
from llava_demo.structured_eval import FIELDS_OBJECT

RED_CIRCLE = SceneObject("red", "circle", 0, 0)  # top left
BLUE_SQUARE = SceneObject("blue", "square", 1, 1)  # center
SCENE = Scene(seed=0, objects=(RED_CIRCLE, BLUE_SQUARE))
Form = Callable[[Scene, random.Random, Phrasebook], Question | None]


def _all_answers(form: Form, scene: Scene) -> set[tuple[str, str]]:
    """Every (slots as text, answer) the form gives for the scene over many draws."""
    asked = (form(scene, random.Random(draw), TRAINING) for draw in range(400))
    return {
        (" / ".join(sorted(slots.values())), answer) for _, slots, answer in filter(None, asked)
    }


def test_presence_answers_yes_only_for_an_object_in_the_scene() -> None:
    answers = _all_answers(CONVERSATION_FORMS["presence"], SCENE)
    assert ("red circle", "Yes, there is a red circle.") in answers
    assert ("red disc", "Yes, there is a red circle.") in answers  # another name, same object
    assert ("red square", "No, there is no red square.") in answers
    assert ("blue circle", "No, there is no blue circle.") in answers
    for _, answer in answers:
        if answer.startswith("Yes"):
            assert answer in ("Yes, there is a red circle.", "Yes, there is a blue square.")


def test_comparisons_name_the_winner() -> None:
    answers = {answer for _, answer in _all_answers(_compare, SCENE)}
    assert answers == {
        "The red circle is further left.",
        "The blue square is further right.",
        "The red circle is higher.",
        "The blue square is lower.",
    }


def test_relative_says_where_the_anchor_is_then_lists_what_is_above_or_below() -> None:
    answers = {answer for _, answer in _all_answers(_relative, SCENE)}
    assert answers == {
        "The red circle is at the top left, so the blue square is below it.",
        "The red circle is at the top left, so nothing is above it.",
        "The blue square is at the center, so the red circle is above it.",
        "The blue square is at the center, so nothing is below it.",
    }


def test_questions_come_in_both_spellings_and_many_phrasings() -> None:
    def asked(book: Phrasebook) -> list[str]:
        return [
            make_sample(generate_scene(seed), kind, salt, book).question
            for seed in range(300)
            for kind in ("conversation", "reasoning")
            for salt in (0, 1)
        ]

    questions = asked(TRAINING)
    text = " ".join(questions)
    for word in ("colour", "color", "center", "centre", "upper", "disc", "box", "Count the"):
        assert word in text, word
    # The first checkpoints' one phrasing per form asks far fewer different questions.
    assert len(set(questions)) > 2 * len(set(asked(CANONICAL)))


def test_follow_up_turns_alternate_and_their_answers_are_true() -> None:
    for seed in range(100):
        sample = make_sample(generate_scene(seed), "multi-turn", seed)
        assert len(sample.history) in (2, 4)
        assert len(sample.turns) % 2 == 1  # ends with the question
        follow_up = make_sample(generate_scene(seed), "reasoning", seed, earlier_turns=1)
        assert len(follow_up.history) == 2 and follow_up.kind == "reasoning"
        assert (
            follow_up.answer
            == make_sample(generate_scene(seed), "reasoning", seed, earlier_turns=1).answer
        )


def test_some_conversation_questions_are_out_of_the_world() -> None:
    samples = [make_sample(generate_scene(seed), "conversation") for seed in range(1000)]
    outside = [sample for sample in samples if sample.form == "out of world"]
    assert 20 <= len(outside) <= 120
    assert all(sample.answer == OUT_OF_WORLD_ANSWER for sample in outside)
    assert is_refusal(OUT_OF_WORLD_ANSWER)
    assert is_correct(OUT_OF_WORLD_ANSWER, OUT_OF_WORLD_ANSWER)
    assert not is_correct("The circle is red.", OUT_OF_WORLD_ANSWER)
    assert not is_correct(".", OUT_OF_WORLD_ANSWER)


def test_json_answers_have_the_shape_of_the_structured_eval_schema() -> None:
    """The "json" answer type writes what a client's "fields" schema asks for, in its order."""
    for seed in range(50):
        scene = generate_scene(seed)
        text = make_sample(scene, "json").answer
        answer = json.loads(text)
        assert text == json.dumps(answer, separators=(",", ":"))  # compact, as the server writes
        assert list(answer) == ["count", "objects"]
        assert answer["count"] == len(scene.objects) == len(answer["objects"])
        truth = [(obj.colour, obj.shape, obj.position) for obj in scene.objects]
        assert [tuple(item.values()) for item in answer["objects"]] == truth
        fields = ["colour", "shape", "position"]
        assert fields == list(cast(dict[str, object], FIELDS_OBJECT["properties"]))
        assert all(list(item) == fields for item in answer["objects"])
