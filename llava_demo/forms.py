"""The question form of a demo sample (docs/demo-model.md lists them), for accuracy by form.

Each response type mixes several forms whose difficulty differs widely (a model can answer
every description and no comparison), so eval-demo reports accuracy per form as well. Each
sample carries its form (instructions.py); presence is split by its true answer, since a
model that always says "No" scores half.
"""

from __future__ import annotations

from llava_demo.instructions import Sample


def question_form(sample: Sample) -> str:
    """The form's name; detail and caption samples are one form each (their kind)."""
    if sample.form == "presence":
        return f"presence ({sample.answer.split(',')[0].lower()})"
    return sample.form
