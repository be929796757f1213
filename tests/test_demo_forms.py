"""Every generated question has a form, and each response type covers the forms it should."""

from __future__ import annotations

from llava_demo.eval_sets import Graded
from llava_demo.eval_tables import form_table
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
    "out of world",
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


def test_presence_is_split_by_its_true_answer() -> None:
    yes = Sample(
        "conversation", "Do you see a red disc?", "Yes, there is a red circle.", "presence"
    )
    no = Sample("conversation", "Is there a red circle?", "No, there is no red circle.", "presence")
    assert (question_form(yes), question_form(no)) == ("presence (yes)", "presence (no)")


def test_form_table_counts_right_answers_per_form() -> None:
    scene = generate_scene(0)
    yes = Sample(
        "conversation",
        "Is there a red circle in the image?",
        "Yes, there is a red circle.",
        "presence",
    )
    graded = [
        Graded(scene, yes, "Yes, there is a red circle."),
        Graded(scene, yes, "No, there is no red circle."),
        Graded(scene, Sample("detail", "Describe the image in detail.", "x.", "detail"), "x."),
    ]
    rows = form_table(graded).splitlines()[2:]
    assert rows == [
        "| conversation | presence (yes) | 1 | 2 | 50.0 |",
        "| detail | detail | 1 | 1 | 100.0 |",
    ]
