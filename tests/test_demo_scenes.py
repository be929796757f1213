"""The demo's synthetic scenes and instruction data: deterministic, valid, scorable."""

from __future__ import annotations

import hashlib

from llava_demo.instructions import BUILDERS, RESPONSE_TYPES, make_sample
from llava_demo.render import render_scene
from llava_demo.scenes import MAX_OBJECTS, POSITIONS, generate_scene
from llava_demo.scoring import is_correct


def _digest(seed: int) -> str:
    return hashlib.sha256(render_scene(generate_scene(seed)).tobytes()).hexdigest()


def test_same_seed_same_scene_image_and_samples() -> None:
    for seed in (0, 7, 123456, 1_000_003):
        assert generate_scene(seed) == generate_scene(seed)
        assert _digest(seed) == _digest(seed)
        for kind in BUILDERS:
            assert make_sample(generate_scene(seed), kind) == make_sample(
                generate_scene(seed), kind
            )


def test_different_seeds_differ() -> None:
    assert len({_digest(seed) for seed in range(50)}) > 40


def test_grammar_holds() -> None:
    for seed in range(500):
        scene = generate_scene(seed)
        assert 1 <= len(scene.objects) <= MAX_OBJECTS
        cells = [(obj.row, obj.column) for obj in scene.objects]
        assert len(set(cells)) == len(cells), "objects never share a cell"
        assert cells == sorted(cells), "annotations in reading order"
        kinds = [(obj.colour, obj.shape) for obj in scene.objects]
        assert len(set(kinds)) == len(kinds), "colour + shape names one object"
        assert all(obj.position in POSITIONS for obj in scene.objects)


def test_scorer_checks_key_words() -> None:
    expected = (
        "There are two objects. A red circle is at the top left. A blue square is at the center."
    )
    assert is_correct(expected, expected)
    assert is_correct(
        "A blue square is at the center. There are two objects. A red circle is at the top left.",
        expected,
    )
    assert not is_correct(expected.replace("top left", "top right"), expected)
    assert not is_correct(expected.replace("red", "green"), expected)
    assert not is_correct("There are two objects.", expected)
    assert is_correct("Yes, there is a red circle.", "Yes, there is a red circle.")
    assert not is_correct("No, there is no red circle.", "Yes, there is a red circle.")


def test_every_response_type_answers_itself() -> None:
    for seed in range(200):
        for kind in RESPONSE_TYPES:
            sample = make_sample(generate_scene(seed), kind)
            assert is_correct(sample.answer, sample.answer)
            assert sample.kind == kind
