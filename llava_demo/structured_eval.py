"""`python -m llava_demo eval --structured`: the demo model describing fresh scenes as JSON.

Each fresh scene (the seeds eval-demo uses) goes to /v1/chat/completions with the question
for a detailed description as JSON and a json_schema response_format, in two shapes:
"fields", the count and each object's colour, shape and position as the scene grammar's
words (the shape of the "json" answers in training); "sentences", each object as the sentence
the model writes in its descriptions ("A red circle is at the top left."). In both, the count
picks how many objects follow. Decoding is greedy and constrained by vLLM's structured
outputs, so every answer parses; the question is whether it is right. A
scene is right when its objects (as a set) equal the truth.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import httpx

from llava_demo.eval_sets import Renderer
from llava_demo.evaluate import image_data_url, served_model, wait_until_ready
from llava_demo.offline_eval import eval_seeds
from llava_demo.render import PICTURES
from llava_demo.scenes import COLOURS, MAX_OBJECTS, POSITIONS, SHAPES, Scene, generate_scene

# A training phrasing of the "json" answer type (llava_demo/instructions.py), whose answers
# have the "fields" schema's shape.
QUESTION: Final = "Describe the image in detail as JSON."
MAX_TOKENS: Final = 256
HEADS: Final = ("There is one object.", "There are two objects.", "There are three objects.")
FIELDS_OBJECT: Final = {
    "type": "object",
    "properties": {
        "colour": {"type": "string", "enum": list(COLOURS)},
        "shape": {"type": "string", "enum": list(SHAPES)},
        "position": {"type": "string", "enum": list(POSITIONS)},
    },
    "required": ["colour", "shape", "position"],
    "additionalProperties": False,
}
# Each object as the sentence the model writes in its detailed descriptions.
SENTENCE_OBJECT: Final = {
    "type": "string",
    "enum": [f"A {c} {s} is at the {p}." for c in COLOURS for s in SHAPES for p in POSITIONS],
}


def scene_schema(item: dict[str, Any], count_values: Sequence[Any]) -> dict[str, Any]:
    """One alternative per object count, so the count decides how many objects follow."""
    alternatives = [
        {
            "type": "object",
            "properties": {
                "count": {"const": count_values[count - 1]},
                "objects": {"type": "array", "items": item, "minItems": count, "maxItems": count},
            },
            "required": ["count", "objects"],
            "additionalProperties": False,
        }
        for count in range(1, MAX_OBJECTS + 1)
    ]
    return {"anyOf": alternatives}


SCHEMAS: Final = {
    "fields": scene_schema(FIELDS_OBJECT, list(range(1, MAX_OBJECTS + 1))),
    "sentences": scene_schema(SENTENCE_OBJECT, HEADS),
}


def _object_key(item: Any) -> tuple[str, str, str]:
    if isinstance(item, dict):
        return (item["colour"], item["shape"], item["position"])
    words = str(item).removeprefix("A ").removesuffix(".").split(" is at the ")
    colour, shape = words[0].split(" ", 1)
    return (colour, shape, words[1])


ObjectKey = tuple[str, str, str]


@dataclass(frozen=True)
class StructuredAnswer:
    scene: Scene
    raw: str
    parsed: dict[str, Any] | None

    @property
    def truth(self) -> set[ObjectKey]:
        return {(o.colour, o.shape, o.position) for o in self.scene.objects}

    @property
    def objects(self) -> set[ObjectKey]:
        if self.parsed is None:
            return set()
        return {_object_key(item) for item in self.parsed["objects"]}

    @property
    def count_right(self) -> bool:
        # Either schema's array length is its count (one anyOf alternative per count).
        return self.parsed is not None and len(self.parsed["objects"]) == len(self.scene.objects)

    @property
    def right(self) -> bool:
        return self.count_right and self.objects == self.truth


def ask_structured(
    client: httpx.Client, model: str, scene: Scene, schema: dict[str, Any], render: Renderer
) -> StructuredAnswer:
    content = [
        {"type": "image_url", "image_url": {"url": image_data_url(scene, render)}},
        {"type": "text", "text": QUESTION},
    ]
    body = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "scene", "schema": schema, "strict": True},
        },
    }
    response = client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    raw = str(response.json()["choices"][0]["message"]["content"] or "")
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = None
    return StructuredAnswer(scene, raw, parsed)


def evaluate_structured(
    base_url: str,
    count: int,
    seed_base: int,
    schema: dict[str, Any],
    render: Renderer,
    concurrency: int = 8,
    wait_s: float = 300.0,
) -> list[StructuredAnswer]:
    scenes = [generate_scene(seed) for seed in eval_seeds(count, seed_base)]
    with httpx.Client(base_url=base_url, timeout=600) as client:
        wait_until_ready(client, wait_s)
        model = served_model(client)
        with ThreadPoolExecutor(concurrency) as pool:
            return list(
                pool.map(lambda scene: ask_structured(client, model, scene, schema, render), scenes)
            )


def report(answers: Sequence[StructuredAnswer]) -> dict[str, float]:
    """Shares (%): answers that parse, right counts, right objects (of all true objects),
    objects named that are not there (of all named), and scenes entirely right."""
    truth = sum(len(answer.truth) for answer in answers)
    named = sum(len(answer.objects) for answer in answers)
    found = sum(len(answer.objects & answer.truth) for answer in answers)
    share = 100.0 / max(len(answers), 1)
    return {
        "valid JSON": share * sum(answer.parsed is not None for answer in answers),
        "count right": share * sum(answer.count_right for answer in answers),
        "objects found": 100.0 * found / max(truth, 1),
        "objects invented": 100.0 * (named - found) / max(named, 1),
        "scene right": share * sum(answer.right for answer in answers),
    }


def eval_structured(
    base_url: str, count: int, seed_base: int, show_errors: int, pictures: str = "varied"
) -> int:
    rows = {}
    failures: list[StructuredAnswer] = []
    for name, schema in SCHEMAS.items():
        render = PICTURES[pictures]
        answers = evaluate_structured(base_url.rstrip("/"), count, seed_base, schema, render)
        rows[name] = report(answers)
        failures += [answer for answer in answers if not answer.right][:show_errors]
    columns = list(next(iter(rows.values())))
    print(f"{count} fresh scenes (seeds {seed_base}..{seed_base + count - 1}), greedy, json_schema")
    print("| schema | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, scores in rows.items():
        print(f"| {name} | " + " | ".join(f"{scores[c]:.1f}" for c in columns) + " |")
    for answer in failures:
        print(f"- seed {answer.scene.seed}: {answer.raw} (truth: {sorted(answer.truth)})")
    return 0
