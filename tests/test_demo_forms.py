"""Every generated question has a form, and each response type covers the forms it should."""

from __future__ import annotations

from llava_demo.evaluate import Graded, form_table
from llava_demo.forms import question_form
from llava_demo.instructions import Sample, make_sample
from llava_demo.scenes import generate_scene

EXPECTED_CONVERSATION_FORMS = {
    "count all objects",
    "count one shape",
    "colour of a shape",
    "colour at a position",
    "shape of a colour",
    "shape at a position",
    "where is an object",
    "presence (yes)",
    "presence (no)",
}
EXPECTED_REASONING_FORMS = {
    "further left / right",
    "higher / lower",
    "what is above / below",
    "count objects not of a shape",
}


def _forms_of(kind: str) -> set[str]:
    samples = (
        make_sample(generate_scene(seed), kind, salt) for seed in range(300) for salt in (0, 1)
    )
    return {question_form(sample) for sample in samples}


def test_each_type_has_its_forms() -> None:
    assert _forms_of("conversation") == EXPECTED_CONVERSATION_FORMS
    assert _forms_of("reasoning") == EXPECTED_REASONING_FORMS
    assert _forms_of("detail") == {"detail"}


def test_forms_are_told_apart_by_wording() -> None:
    assert question_form(Sample("conversation", "What colour is the circle?", "")) == (
        "colour of a shape"
    )
    assert question_form(
        Sample("conversation", "What colour is the object at the center?", "")
    ) == ("colour at a position")
    assert question_form(Sample("reasoning", "How many objects are not squares?", "")) == (
        "count objects not of a shape"
    )
    no = Sample(
        "conversation", "Is there a red circle in the image?", "No, there is no red circle."
    )
    assert question_form(no) == "presence (no)"


def test_form_table_counts_right_answers_per_form() -> None:
    scene = generate_scene(0)
    yes = Sample(
        "conversation", "Is there a red circle in the image?", "Yes, there is a red circle."
    )
    graded = [
        Graded(scene, yes, "Yes, there is a red circle."),
        Graded(scene, yes, "No, there is no red circle."),
        Graded(scene, Sample("detail", "Describe the image in detail.", "x."), "x."),
    ]
    rows = form_table(graded).splitlines()[2:]
    assert rows == [
        "| conversation | presence (yes) | 1 | 2 | 50.0 |",
        "| detail | detail | 1 | 1 | 100.0 |",
    ]
