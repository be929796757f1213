"""The question form of a demo sample (docs/demo-model.md lists them), for accuracy by form.

Each response type mixes several forms whose difficulty differs widely (a model can answer
every description and no comparison), so eval-demo reports accuracy per form as well. The
form is read from the question's wording, which instructions.py fixes per form; presence is
split by its true answer, since a model that always says "No" scores half.
"""

from __future__ import annotations

import re
from typing import Final

from llava_demo.instructions import Sample

# First match wins: "How many objects are not circles?" before "How many circles are there?".
_QUESTION_FORMS: Final = (
    ("count all objects", r"^How many objects are there\?"),
    ("count objects not of a shape", r"^How many objects are not "),
    ("count one shape", r"^How many "),
    ("colour of a shape", r"^What colour is the (?!object)"),
    ("colour at a position", r"^What colour is the object at "),
    ("shape of a colour", r"^What shape is the "),
    ("shape at a position", r"^What shape is at "),
    ("where is an object", r"^Where is "),
    ("further left / right", r"^Which is further "),
    ("higher / lower", r"^Which is (higher|lower)"),
    ("what is above / below", r"^What is (above|below) "),
    ("presence", r"^Is there "),
)


def question_form(sample: Sample) -> str:
    """The form's name; detail and caption samples are one form each (their kind)."""
    if sample.kind in ("detail", "caption"):
        return sample.kind
    for name, pattern in _QUESTION_FORMS:
        if re.match(pattern, sample.question):
            if name == "presence":
                return f"presence ({sample.answer.split(',')[0].lower()})"
            return name
    raise ValueError(f"no form matches {sample.question!r}")
