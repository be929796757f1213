"""`python -m llava_demo eval`: the demo model's accuracy through the OpenAI API, paper style.

Fresh scenes (seeds from EVAL_SEED_BASE up, never used in training) go to
/v1/chat/completions as PNG data URLs with one question of each response type, decoded
greedily (temperature 0); each answer is scored against the ground truth by its colour, shape,
count and position words (llava_demo/scoring.py). The ablation rows (models that are not
served) come from the training summary, measured at training time on the same seeds.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
from tqdm import tqdm

from llava_demo.forms import question_form
from llava_demo.instructions import RESPONSE_TYPES, Sample, make_sample
from llava_demo.offline_eval import eval_seeds, summarise
from llava_demo.scenes import EVAL_SEED_BASE, Scene, generate_scene, render_scene
from llava_demo.scoring import is_correct

MAX_TOKENS: Final = 64
READY_WAIT_S: Final = 300.0  # the demo model loads in ~30 s on 2 cores; larger ones take longer


@dataclass(frozen=True)
class Graded:
    scene: Scene
    sample: Sample
    answer: str

    @property
    def correct(self) -> bool:
        return is_correct(self.answer, self.sample.answer)


def image_data_url(scene: Scene) -> str:
    buffer = io.BytesIO()
    render_scene(scene).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def ask(client: httpx.Client, model: str, scene: Scene, question: str) -> str:
    content = [
        {"type": "image_url", "image_url": {"url": image_data_url(scene)}},
        {"type": "text", "text": question},
    ]
    body = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
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
        if time.monotonic() >= deadline:
            raise ServerNotReady(f"{client.base_url} was not ready within {wait_s:g} s ({last})")
        time.sleep(1.0)


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
) -> list[Graded]:
    """One question of each response type about each of `count` fresh scenes."""
    scenes = [generate_scene(seed) for seed in eval_seeds(count, seed_base)]
    jobs = [(scene, make_sample(scene, kind)) for kind in RESPONSE_TYPES for scene in scenes]
    with httpx.Client(base_url=api_root(base_url), timeout=120) as client:
        wait_until_ready(client, ready_wait_s)
        model = served_model(client)
        with ThreadPoolExecutor(concurrency) as pool:
            asked = pool.map(lambda job: ask(client, model, job[0], job[1].question), jobs)
            answers = list(tqdm(asked, total=len(jobs), desc=f"asking {model}", unit="question"))
    return [
        Graded(scene, sample, answer) for (scene, sample), answer in zip(jobs, answers, strict=True)
    ]


def accuracy(graded: Sequence[Graded]) -> dict[str, float]:
    marks: dict[str, list[bool]] = {kind: [] for kind in RESPONSE_TYPES}
    for item in graded:
        marks[item.sample.kind].append(item.correct)
    return summarise(marks)


def table(rows: dict[str, dict[str, float]]) -> str:
    """A markdown table: one row per model, accuracy (%) per response type and overall."""
    columns = [*RESPONSE_TYPES, "overall"]
    lines = [
        "| model | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{row.get(c, 0.0):.1f}" for c in columns) + " |")
    return "\n".join(lines)


def form_table(graded: Sequence[Graded]) -> str:
    """A markdown table of accuracy by question form, within each response type."""
    marks: dict[tuple[str, str], list[bool]] = {}
    for item in graded:
        marks.setdefault((item.sample.kind, question_form(item.sample)), []).append(item.correct)
    lines = ["| type | question form | right | asked | accuracy |", "|---|---|---:|---:|---:|"]
    for (kind, form), right in sorted(marks.items()):
        share = 100.0 * sum(right) / len(right)
        lines.append(f"| {kind} | {form} | {sum(right)} | {len(right)} | {share:.1f} |")
    return "\n".join(lines)


def ablation_rows(summary_path: Path) -> dict[str, dict[str, float]]:
    if not summary_path.is_file():
        return {}
    offline = json.loads(summary_path.read_text()).get("offline_accuracy", {})
    return {
        f"{name} (torch, at training)": row for name, row in offline.items() if name != "full data"
    }


def eval_demo(
    base_url: str,
    count: int,
    seed_base: int,
    summary: Path,
    show_errors: int,
    wait_s: float | None = None,
) -> int:
    wait = READY_WAIT_S if wait_s is None else wait_s
    try:
        graded = evaluate_served(base_url, count, seed_base, ready_wait_s=wait)
    except ServerNotReady as error:
        print(f"llava_demo eval: {error}", file=sys.stderr)
        return 1
    rows = {**ablation_rows(summary), "full data (served, through the API)": accuracy(graded)}
    print(f"{count} fresh scenes (seeds {seed_base}..{seed_base + count - 1}), greedy decoding")
    print(table(rows))
    print("\nBy question form (the served model):")
    print(form_table(graded))
    for item in [g for g in graded if not g.correct][:show_errors]:
        print(
            f"- seed {item.scene.seed} {item.sample.kind}: {item.sample.question!r} "
            f"-> {item.answer!r} (expected {item.sample.answer!r})"
        )
    return 0
