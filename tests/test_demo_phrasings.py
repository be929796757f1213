"""The phrasebooks: held-out phrasings are other sentences for the same forms and slots."""

from __future__ import annotations

import random
import re
import string

from llava_demo.eval_sets import eval_sets, questions
from llava_demo.phrasings import (
    COURTESY_CLOSERS,
    COURTESY_OPENERS,
    TRAINING,
    heldout_phrasebook,
    phrase,
    position_phrase,
)
from llava_demo.scenes import generate_scene


def _slots(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_heldout_templates_are_new_sentences_of_known_forms() -> None:
    heldout = heldout_phrasebook().templates
    assert set(heldout) == set(TRAINING.templates)
    for form, templates in heldout.items():
        training_slots = set().union(*(_slots(t) for t in TRAINING.templates[form]))
        for template in templates:
            assert template not in TRAINING.templates[form]
            assert _slots(template) <= training_slots | {"colour_word"}, (form, template)


def test_positions_have_other_names_and_spellings() -> None:
    rng = random.Random(0)
    names = {position_phrase("center", rng) for _ in range(50)}
    assert names == {"center", "centre", "middle"}
    corners = {position_phrase("top left", rng) for _ in range(200)}
    assert {"top left", "upper left", "top-left"} <= corners


def test_phrase_fills_every_slot() -> None:
    rng = random.Random(1)
    for _ in range(200):
        text = phrase("colour of a shape", {"shape": "circle"}, rng)
        assert "{" not in text and "circle" in text.lower()


def _either(words: tuple[str, ...]) -> str:
    return "(?:" + "|".join(re.escape(word) for word in words) + ")?"


def _pattern(template: str) -> re.Pattern[str]:
    """A training template as a regex: any slot value, any casing, any end punctuation, with or
    without training's courtesies."""
    parts = re.split(r"\{[a-z_]+\}", template.rstrip("?."))
    body = ".+".join(re.escape(part) for part in parts)
    wrapped = _either(COURTESY_OPENERS) + body + _either(COURTESY_CLOSERS)
    return re.compile(wrapped + r"[?.]*", re.IGNORECASE)


def test_courtesies_wrap_training_questions_not_heldout_ones() -> None:
    rng = random.Random(2)
    asked = [phrase("detail", {}, rng).lower().rstrip("?.") for _ in range(400)]
    assert any(question.startswith("please ") for question in asked)
    assert any(question.endswith("please") for question in asked)
    heldout = heldout_phrasebook()
    sentences = {template.lower().rstrip("?.") for template in heldout.templates["detail"]}
    for _ in range(200):
        assert phrase("detail", {}, rng, heldout).lower().rstrip("?.") in sentences


def test_the_heldout_set_never_asks_in_a_training_phrasing() -> None:
    heldout_set = next(s for s in eval_sets() if s.name == "held-out phrasings")
    scenes = [generate_scene(seed) for seed in range(1_000_000, 1_000_100)]
    asked = questions(heldout_set, scenes)
    assert {sample.form for _, sample in asked} >= {"detail", "colour of a shape", "higher / lower"}
    for _, sample in asked:
        patterns = [_pattern(template) for template in TRAINING.templates[sample.form]]
        assert not any(p.fullmatch(sample.question) for p in patterns), sample.question
