"""`python -m llava_demo eval`: the demo model's accuracy through the OpenAI API, paper style.

Fresh scenes (seeds from EVAL_SEED_BASE up, never used in training) go to
/v1/chat/completions as PNG data URLs with one question of each response type, decoded
greedily (temperature 0), in each evaluation set (eval_sets.py: training's renderer and
phrasings, held-out phrasings, a second renderer, a follow-up turn), plus out-of-world
questions; each answer is scored against the ground truth by its colour, shape, count and
position words (llava_demo/scoring.py). The ablation rows (models that are not served) come
from the training summary, measured at training time on the same seeds.
"""

from __future__ import annotations

import base64
import io
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import httpx
from tqdm import tqdm

from llava_demo.eval_sets import (
    VARIED_DATA,
    EvalSet,
    Graded,
    Renderer,
    TrainedOn,
    eval_sets,
    out_of_world_questions,
    questions,
)
from llava_demo.eval_tables import ablation_rows, form_table, sets_table, table
from llava_demo.instructions import RESPONSE_TYPES, Sample
from llava_demo.offline_eval import eval_seeds, summarise
from llava_demo.render import render_scene
from llava_demo.scenes import EVAL_SEED_BASE, Scene, generate_scene

MAX_TOKENS: Final = 64
READY_WAIT_S: Final = 300.0  # the demo model loads in ~30 s on 2 cores; larger ones take longer


def image_data_url(scene: Scene, renderer: Renderer = render_scene) -> str:
    buffer = io.BytesIO()
    renderer(scene).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def chat_messages(image_url: str, sample: Sample) -> list[dict[str, Any]]:
    """The conversation as a client sends it: the picture with the first question, then the
    earlier answers and questions, the last question last."""
    first: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": image_url}},
        {"type": "text", "text": sample.turns[0]},
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": first}]
    for index, text in enumerate(sample.turns[1:]):
        messages.append({"role": "assistant" if index % 2 == 0 else "user", "content": text})
    return messages


def ask(client: httpx.Client, model: str, image_url: str, sample: Sample) -> str:
    body = {
        "model": model,
        "messages": chat_messages(image_url, sample),
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
    }
    response = client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"] or "").strip()


class ServerNotReady(RuntimeError):
    pass


def wait_until_ready(client: httpx.Client, wait_s: float) -> None:
    """Polls /ready: a server answers /health at once but 503 on completions while its model
    loads, so questions sent right after starting it would fail."""
    deadline = time.monotonic() + wait_s
    last = "no answer"
    while True:
        try:
            response = client.get("/ready")
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code} {response.text.strip()[:200]}"
        except httpx.TransportError as error:
            last = f"{type(error).__name__}: {error}"
        left = deadline - time.monotonic()
        if left <= 0:
            raise ServerNotReady(f"{client.base_url} was not ready within {wait_s:g} s ({last})")
        time.sleep(min(1.0, left))  # the wait asked for, not up to a second past it


def served_model(client: httpx.Client) -> str:
    response = client.get("/v1/models")
    response.raise_for_status()
    return str(response.json()["data"][0]["id"])


def api_root(base_url: str) -> str:
    """The server's root: the OpenAI clients' base URL ends in /v1, ours need not."""
    return base_url.rstrip("/").removesuffix("/v1")


def evaluate_served(
    base_url: str,
    count: int,
    seed_base: int = EVAL_SEED_BASE,
    concurrency: int = 8,
    ready_wait_s: float = READY_WAIT_S,
    sets: Sequence[EvalSet] | None = None,
    out_of_world: bool = False,
) -> list[Graded]:
    """One question of each response type about each of `count` fresh scenes, per set
    (default: the own-generator set alone); then the out-of-world questions if asked."""
    scenes = [generate_scene(seed) for seed in eval_seeds(count, seed_base)]
    sets = sets if sets is not None else eval_sets()[:1]
    jobs = [
        (eval_set, scene, sample)
        for eval_set in sets
        for scene, sample in questions(eval_set, scenes)
    ]
    if out_of_world:  # about the first set's pictures
        jobs += [(sets[0], s, q) for s, q in out_of_world_questions(scenes)]
    with httpx.Client(base_url=api_root(base_url), timeout=120) as client:
        wait_until_ready(client, ready_wait_s)
        model = served_model(client)

        def run(job: tuple[EvalSet, Scene, Sample]) -> str:
            eval_set, scene, sample = job
            return ask(client, model, image_data_url(scene, eval_set.renderer), sample)

        with ThreadPoolExecutor(concurrency) as pool:
            answers = list(
                tqdm(pool.map(run, jobs), total=len(jobs), desc=f"asking {model}", unit="question")
            )
    return [
        Graded(scene, sample, answer, eval_set.name)
        for (eval_set, scene, sample), answer in zip(jobs, answers, strict=True)
    ]


def accuracy(graded: Sequence[Graded]) -> dict[str, float]:
    marks: dict[str, list[bool]] = {kind: [] for kind in RESPONSE_TYPES}
    for item in graded:
        marks[item.sample.kind].append(item.correct)
    return summarise(marks)


def eval_demo(
    base_url: str,
    count: int,
    seed_base: int,
    summary: Mapping[str, Any],
    show_errors: int,
    wait_s: float | None = None,
    trained: TrainedOn = VARIED_DATA,
) -> int:
    wait = READY_WAIT_S if wait_s is None else wait_s
    sets = eval_sets(trained)
    try:
        graded = evaluate_served(
            base_url, count, seed_base, ready_wait_s=wait, sets=sets, out_of_world=True
        )
    except ServerNotReady as error:
        print(f"llava_demo eval: {error}", file=sys.stderr)
        return 1
    in_world = [item for item in graded if item.sample.form != "out of world"]
    own = [item for item in in_world if item.eval_set == "own generator"]
    refusals = [item.correct for item in graded if item.sample.form == "out of world"]
    rows = {**ablation_rows(summary), "full data (served, through the API)": accuracy(own)}
    print(f"{count} fresh scenes (seeds {seed_base}..{seed_base + count - 1}), greedy decoding")
    print(table(rows))
    print("\nBy evaluation set (the served model; accuracy %):")
    print(sets_table(in_world))
    print(
        f"\nOut-of-world questions answered with what the model can answer: "
        f"{sum(refusals)}/{len(refusals)} ({100.0 * sum(refusals) / max(len(refusals), 1):.1f}%)"
    )
    print("\nBy question form (the served model, own generator):")
    print(form_table(own))
    for item in [g for g in graded if not g.correct][:show_errors]:
        print(
            f"- {item.eval_set}, seed {item.scene.seed} {item.sample.kind}: "
            f"{list(item.sample.turns)!r} -> {item.answer!r} (expected {item.sample.answer!r})"
        )
    return 0
