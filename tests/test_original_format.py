"""Original-format checkpoints (LlavaLlamaForCausalLM) served through the OpenAI API on vLLM:
greedy tokens and usage equal an independent reference forward (tests/reference_original.py),
for both tiny original checkpoints, non-square images of several sizes, one and two images,
system prompts and multi-turn conversations; and the same weights exported in the llava-hf
layout answer like the original format through vLLM's in-tree class under 'square'."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from PIL import Image

from server.model_repo import resolve_model
from server.model_store import ensure_local
from server.settings import REPO_MODEL_DIR
from tests.images import Messages, data_url, encode, scene, user_message
from tests.reference_original import reference_greedy, token_texts
from tests.support.pool import ServerPool
from tests.support.servers import RemoteServer, server_env

MAX_TOKENS = 12
HUMAN_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
USER_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


@dataclass(frozen=True)
class Served:
    name: str
    client: openai.OpenAI
    checkpoint: Path
    tower: Path


# The parameter is a profile name (tests/support/pool.py): the session's plugin reads it.
@pytest.fixture(scope="module", params=["original-v1", "original-v15"])
def original_server(request: pytest.FixtureRequest, server_pool: ServerPool) -> RemoteServer:
    return server_pool.get(str(request.param))


@pytest.fixture(scope="module")
def served(original_server: RemoteServer, home: Path) -> Served:
    name = original_server.settings["model"]
    local = ensure_local(resolve_model(name, REPO_MODEL_DIR), home)
    assert local.vision_tower is not None
    return Served(name, original_server.client(), local.model, local.vision_tower)


def expected_prompt(model: str, system: str | None, turns: list[tuple[str, int]]) -> str:
    """The original get_prompt(), written out for the two templates the tiny models use."""
    marker = "<im_start><image><im_end>\n" if model == "tiny-llava-v1-linear" else "<image>\n"
    texts = [marker * images + text for text, images in turns]
    if model == "tiny-llava-v1-linear":  # llava_v0: '###' separators
        prompt = (system or HUMAN_SYSTEM) + "###"
        for index, text in enumerate(texts):
            prompt += f"{('Human', 'Assistant')[index % 2]}: {text}###"
        return prompt + "Assistant:"
    prompt = (system or USER_SYSTEM) + " "  # vicuna_v1: ' ' and '</s>'
    for index, text in enumerate(texts):
        prompt += f"{('USER', 'ASSISTANT')[index % 2]}: {text}{(' ', '</s>')[index % 2]}"
    return prompt + "ASSISTANT:"


Case = tuple[Messages, str | None, list[tuple[str, int]], list[Image.Image]]


def case_wide() -> Case:
    image = scene(90, 40, 31)
    return (
        [user_message("What is this?", data_url(encode(image)))],
        None,
        [("What is this?", 1)],
        [image],
    )


def case_tall_with_system() -> Case:
    image = scene(30, 77, 32)
    system = "Answer in one short sentence."
    messages: Messages = [
        {"role": "system", "content": system},
        user_message("Describe the image.", data_url(encode(image))),
    ]
    return messages, system, [("Describe the image.", 1)], [image]


def case_two_images() -> Case:
    first, second = scene(64, 20, 33), scene(41, 41, 34)
    message = user_message("Which is brighter?", data_url(encode(first)), data_url(encode(second)))
    return [message], None, [("Which is brighter?", 2)], [first, second]


def case_multi_turn() -> Case:
    first, second = scene(50, 70, 35), scene(120, 33, 36)
    messages: Messages = [
        user_message("What is this?", data_url(encode(first))),
        {"role": "assistant", "content": "A picture of shapes."},
        user_message("And this one?", data_url(encode(second))),
    ]
    turns = [("What is this?", 1), ("A picture of shapes.", 0), ("And this one?", 1)]
    return messages, None, turns, [first, second]


CASES = {
    "wide": case_wide,
    "tall+system": case_tall_with_system,
    "two images": case_two_images,
    "multi-turn": case_multi_turn,
}


@pytest.mark.parametrize("case", list(CASES))
def test_served_greedy_tokens_equal_reference(served: Served, case: str) -> None:
    messages, system, turns, images = CASES[case]()
    reply = served.client.chat.completions.create(
        model=served.name, messages=messages, max_tokens=MAX_TOKENS, temperature=0, logprobs=True
    )
    prompt = expected_prompt(served.name, system, turns)
    expected, prompt_length = reference_greedy(
        served.checkpoint, served.tower, prompt, images, MAX_TOKENS
    )
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    served_tokens = [position.token for position in logprobs.content]
    assert served_tokens == token_texts(served.checkpoint, served.tower, expected)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == prompt_length  # the image tokens are counted
    assert reply.usage.completion_tokens == len(expected)


def test_the_image_steers_the_answer(served: Served) -> None:
    """Guards the reference test's power: with another picture the tokens change."""
    answers = set()
    for seed in (41, 42, 43):
        image = scene(60, 40, seed)
        reply = served.client.chat.completions.create(
            model=served.name,
            messages=[user_message("What is this?", data_url(encode(image)))],
            max_tokens=MAX_TOKENS,
            temperature=0,
        )
        answers.add(reply.choices[0].message.content)
    assert len(answers) > 1


def test_non_alternating_turns_are_a_clear_400(served: Served) -> None:
    with pytest.raises(openai.BadRequestError, match="in turn"):
        served.client.chat.completions.create(
            model=served.name,
            messages=[
                {"role": "user", "content": "Hello"},
                {"role": "user", "content": "Hello again"},
            ],
            max_tokens=4,
        )


# The offline engine runs inside the check's process: without vLLM's engine-core and worker
# processes, each of which imports vLLM again, a check takes half the time. Both layouts run
# the same way, so their tokens stay comparable.
IN_PROCESS_ENGINE = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


def _export_checks(*runs: list[str]) -> list[list[list[int]]]:
    """Each run in its own process, all at once (each engine on a core of its own)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.original_export_check", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**server_env(index), **IN_PROCESS_ENGINE},
        )
        for index, args in enumerate(runs)
    ]
    return [_result(process) for process in processes]


def _result(process: subprocess.Popen[str]) -> list[list[int]]:
    try:
        stdout, stderr = process.communicate(timeout=600)
    finally:
        process.kill()
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, stdout[-3000:] + stderr[-3000:]
    result: list[list[int]] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


@pytest.mark.needs_server(engines=2)  # two offline engines, one per layout
def test_llava_hf_export_answers_like_the_original_under_square(home: Path, tmp_path: Path) -> None:
    """The same weights in llava-hf layout, through vLLM's in-tree LLaVA class, give the same
    greedy tokens as the original format with the same preprocessing: the weight mapping."""
    from server.llava_hf_export import export_llava_hf

    local = ensure_local(resolve_model("tiny-llava-v15-mlp", REPO_MODEL_DIR), home)
    assert local.vision_tower is not None
    square = tmp_path / "original-square"
    shutil.copytree(local.model, square)
    config = json.loads((square / "config.json").read_text())
    (square / "config.json").write_text(json.dumps({**config, "image_aspect_ratio": "square"}))
    exported = export_llava_hf(square, local.vision_tower, tmp_path / "llava-hf")
    image_token = json.loads((exported / "config.json").read_text())["image_token_index"]
    original, llava_hf = _export_checks(
        ["original", str(square), "0", str(local.vision_tower)],
        ["hf", str(exported), str(image_token)],
    )
    assert original == llava_hf
    assert len({tuple(tokens) for tokens in original}) == len(original)  # images matter


def test_prompts_the_template_cannot_render_are_a_clear_400(served: Served) -> None:
    messages: Messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    with pytest.raises(openai.BadRequestError, match="last message"):
        served.client.chat.completions.create(model=served.name, messages=messages, max_tokens=4)
    # and the server still answers
    reply = served.client.chat.completions.create(
        model=served.name, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )
    assert reply.choices[0].message.content is not None


def test_a_typed_image_placeholder_is_plain_text(served: Served) -> None:
    """A typed "<image>" without an image is the client's text, not a slot for a missing image
    (tests/test_original_pieces.py checks the token ids)."""
    reply = served.client.chat.completions.create(
        model=served.name, messages=[{"role": "user", "content": "Draw <image> here"}], max_tokens=2
    )
    assert reply.choices[0].message.content is not None
