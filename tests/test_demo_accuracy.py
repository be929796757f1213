"""The served demo model (the default of `llava-serve serve`) answers fresh scenes correctly:
accuracy through the real API on a small fresh set is at least 95% for every response type,
it follows phrasings training never read and a follow-up turn, it describes a scene as JSON
under a schema, and the served greedy tokens equal the independent reference forward of the
original architecture (tests/reference_original.py)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from llava_demo.cli import trained_on
from llava_demo.eval_sets import EvalSet, eval_sets
from llava_demo.evaluate import accuracy, evaluate_served, image_data_url
from llava_demo.instructions import RESPONSE_TYPES, make_sample
from llava_demo.model import prompt_text
from llava_demo.phrasings import CANONICAL
from llava_demo.render import render_plain
from llava_demo.scenes import generate_scene
from llava_demo.structured_eval import SCHEMAS, evaluate_structured, report
from server.model_repo import resolve_model
from server.model_store import LocalModel, ensure_local
from server.settings import REPO_MODEL_DIR, Settings
from tests.reference_original import reference_greedy, token_texts
from tests.support.servers import RemoteServer

# What the demo model promises per response type (README, docs/demo-model.md).
MIN_ACCURACY = 95.0
# Fresh seeds: training uses 0..scenes-1, `eval-demo` 1_000_000 up; this set is its own.
SEED_BASE = 2_000_000
SCENES = 20
# The committed checkpoint's training data (plain pictures, varied phrasings): eval-demo's sets
# ask in kind. The plain set asks in one phrasing per form, as the checkpoint it continues was
# measured.
TRAINED_ON = trained_on(REPO_MODEL_DIR / "llava-demo" / "training_summary.json")
PLAIN = EvalSet("plain pictures, one phrasing per form", render_plain, CANONICAL)
# eval-demo's other columns on a small sample; the committed model gives 96.8% (held-out
# phrasings), 96.6% (second renderer) and 99.3% (follow-up turn) on 300 scenes
# (docs/demo-model.md); before its tower's distillation the second renderer got 21%, the
# checkpoint it continues about 30% on held-out phrasings and "." to a follow-up.
FLOOR = 60.0
# Scenes described exactly under the "fields" schema: 300 of 300 on eval-demo's set.
JSON_FLOOR = 90.0
MAX_TOKENS = 48
EOS_ID = 2  # </s>, as in every project tokenizer (server/checkpoints/tokenizer.py)


@pytest.fixture(scope="module")
def demo_url(demo_server: RemoteServer) -> str:
    return demo_server.url


def test_the_demo_model_is_the_default() -> None:
    assert Settings.model_fields["model"].default == "llava-demo"


@pytest.fixture(scope="module")
def fresh_table(demo_url: str) -> tuple[dict[str, float], list[tuple[str, str, str]]]:
    # The OpenAI clients' base URL, /v1 included, as a user would pass it to eval-demo.
    graded = evaluate_served(f"{demo_url}/v1", SCENES, SEED_BASE, concurrency=4, sets=[PLAIN])
    wrong = [(g.sample.question, g.answer, g.sample.answer) for g in graded if not g.correct]
    return accuracy(graded), wrong


def test_the_served_model_answers_from_the_picture(
    fresh_table: tuple[dict[str, float], list[tuple[str, str, str]]],
) -> None:
    """Far above what the words alone give (stage 1 only: about 1%): the model sees. The
    committed model reaches 95% (below); these floors say whether a retrained one sees at
    all, whatever its score."""
    table, wrong = fresh_table
    assert table["detail"] >= 90.0, (table, wrong)
    assert all(table[kind] >= 50.0 for kind in RESPONSE_TYPES), (table, wrong)


# Per response type; the committed model gives 99.7 / 100 / 99.0 % on eval-demo's 300 scenes
# in these phrasings (docs/demo-model.md).
def test_accuracy_on_fresh_scenes_is_at_least_95_percent(
    fresh_table: tuple[dict[str, float], list[tuple[str, str, str]]],
) -> None:
    table, wrong = fresh_table
    for kind in RESPONSE_TYPES:
        assert table[kind] >= MIN_ACCURACY, (kind, table, wrong)


@pytest.mark.parametrize("seed", [SEED_BASE + 100, SEED_BASE + 101])
@pytest.mark.parametrize("kind", [*RESPONSE_TYPES, "multi-turn"])
def test_served_tokens_equal_the_reference_forward(demo_url: str, seed: int, kind: str) -> None:
    """Also for a follow-up turn, where the entry's image_placement moves the image after the
    latest question: the server lays the conversation out as training did."""
    spec = resolve_model("llava-demo", REPO_MODEL_DIR)
    local: LocalModel = ensure_local(spec, REPO_MODEL_DIR)
    assert local.vision_tower is not None
    scene = generate_scene(seed)
    turns = make_sample(scene, kind, book=CANONICAL).turns
    client = openai.OpenAI(base_url=f"{demo_url}/v1", api_key="unused", max_retries=0)
    image = {"type": "image_url", "image_url": {"url": image_data_url(scene, render_plain)}}
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [image, {"type": "text", "text": turns[0]}]},
        *(
            {"role": "user" if index % 2 == 0 else "assistant", "content": text}
            for index, text in enumerate(turns[1:], start=1)
        ),
    ]
    reply = client.chat.completions.create(
        model="llava-demo",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=MAX_TOKENS,
        temperature=0,
        logprobs=True,
    )
    expected, _ = reference_greedy(
        local.model,
        local.vision_tower,
        prompt_text(turns, spec.image_placement),
        [render_plain(scene)],
        MAX_TOKENS,
    )
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    served = [position.token for position in logprobs.content]
    texts = token_texts(local.model, local.vision_tower, expected)
    # The trained model ends its answers with </s>: the reference decodes it as "</s>", vLLM
    # may report it with its special-token text skipped. Compare what comes before it.
    if expected and expected[-1] == EOS_ID:
        texts = texts[:-1]
        served = served[: len(texts)] if len(served) == len(texts) + 1 else served
    assert served == texts


@pytest.mark.parametrize(
    "set_name",
    ["held-out phrasings", "second renderer", "follow-up turn"],
)
def test_the_served_model_follows_people_not_only_its_generator(
    demo_url: str, set_name: str
) -> None:
    """A small sample of eval-demo's columns, each above a floor."""
    chosen = [eval_set for eval_set in eval_sets(TRAINED_ON) if eval_set.name == set_name]
    graded = evaluate_served(demo_url, 10, SEED_BASE + 500, concurrency=4, sets=chosen)
    table = accuracy(graded)
    wrong = [(g.sample.turns, g.answer) for g in graded if not g.correct]
    assert table["overall"] >= FLOOR, (table, wrong[:5])


def test_the_served_model_describes_a_scene_as_json(demo_url: str) -> None:
    """Under eval-demo's "fields" json_schema (each object's colour, shape and position), on the
    entry's llguidance backend: the JSON always parses and describes the scene."""
    answers = evaluate_structured(
        demo_url, 10, SEED_BASE + 600, SCHEMAS["fields"], render_plain, concurrency=4
    )
    table = report(answers)
    assert table["valid JSON"] == 100.0, table
    assert table["scene right"] >= JSON_FLOOR, (table, [a.raw for a in answers if not a.right])


def test_a_schema_llguidance_cannot_compile_is_400_naming_the_part(demo_url: str) -> None:
    """The same refusal as on xgrammar (tests/test_openai_compat.py), in llguidance's words."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "(?=a)b"}},
    }
    client = openai.OpenAI(base_url=f"{demo_url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="llava-demo",
            messages=[{"role": "user", "content": "How many objects are there?"}],
            max_tokens=8,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        )
    error = refused.value.body
    assert isinstance(error, dict)
    assert error["param"] == "response_format.json_schema.schema"
    assert "properties.code" in error["message"] and "look-around" in error["message"]


def test_answers_start_without_a_space_in_full_and_streamed_responses(demo_url: str) -> None:
    """The entry's strip_leading_space: the text as the authors' serving code gives it, the
    same whether streamed or not (the tokens keep their space: see the reference test)."""
    scene = generate_scene(SEED_BASE + 7)
    client = openai.OpenAI(base_url=f"{demo_url}/v1", api_key="unused", max_retries=0)
    content: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": image_data_url(scene, render_plain)}},
        {"type": "text", "text": make_sample(scene, "conversation", book=CANONICAL).question},
    ]
    messages = [{"role": "user", "content": content}]
    full = client.chat.completions.create(
        model="llava-demo",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=MAX_TOKENS,
        temperature=0,
    )
    text = str(full.choices[0].message.content)
    assert text and not text[0].isspace()
    stream = client.chat.completions.create(
        model="llava-demo",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=MAX_TOKENS,
        temperature=0,
        stream=True,
    )
    assert (
        "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)  # type: ignore[union-attr]
        == text
    )
    # The Responses API gives the same text, full and streamed.
    responses_input: Any = [{"role": "user", "content": _responses_content(content)}]
    answer = client.responses.create(
        model="llava-demo", input=responses_input, max_output_tokens=MAX_TOKENS, temperature=0
    )
    assert answer.output_text == text
    events = client.responses.create(
        model="llava-demo",
        input=responses_input,
        max_output_tokens=MAX_TOKENS,
        temperature=0,
        stream=True,
    )
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == text


def _responses_content(chat_content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat's image_url and text parts as the Responses API's input_image and input_text."""
    return [
        {"type": "input_image", "image_url": part["image_url"]["url"]}
        if part["type"] == "image_url"
        else {"type": "input_text", "text": part["text"]}
        for part in chat_content
    ]
