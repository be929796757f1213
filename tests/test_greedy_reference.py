"""Greedy correctness: the served tokens equal transformers' generate(do_sample=False) on the same
checkpoint (float32), images and conversation, token for token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionSystemMessageParam
from PIL import Image

from tests.images import Messages, data_url, encode, scene, user_message
from tests.reference_hf import (
    reference_beam_ids,
    reference_greedy_ids,
    reference_prompt_length,
    reference_token_texts,
    to_hf_messages,
)

MAX_TOKENS = 16


def case_one_square() -> tuple[Messages, list[Image.Image]]:
    image = scene(64, 64, 21)
    return [user_message("What colour is the ball?", data_url(encode(image)))], [image]


def case_non_square_with_system() -> tuple[Messages, list[Image.Image]]:
    image = scene(100, 60, 22)
    system: ChatCompletionSystemMessageParam = {
        "role": "system",
        "content": "Answer in one short sentence.",
    }
    return [system, user_message("Describe the image.", data_url(encode(image)))], [image]


def case_two_images() -> tuple[Messages, list[Image.Image]]:
    first, second = scene(37, 90, 23), scene(80, 80, 24)
    message = user_message(
        "Which one is brighter?", data_url(encode(first)), data_url(encode(second))
    )
    return [message], [first, second]


def case_multi_turn() -> tuple[Messages, list[Image.Image]]:
    image = scene(72, 48, 25)
    return [
        user_message("What is this?", data_url(encode(image))),
        {"role": "assistant", "content": "A picture of shapes."},
        {"role": "user", "content": "How many are there?"},
    ], [image]


CASES = {
    "square": case_one_square,
    "non-square+system": case_non_square_with_system,
    "two images": case_two_images,
    "multi-turn": case_multi_turn,
}


@pytest.mark.parametrize("name", list(CASES))
def test_served_greedy_tokens_equal_transformers(
    name: str, client: openai.OpenAI, model_id: str, tiny_checkpoint: Path
) -> None:
    messages, images = CASES[name]()
    reply = client.chat.completions.create(
        model=model_id, messages=messages, max_tokens=MAX_TOKENS, temperature=0, logprobs=True
    )
    expected_ids = reference_greedy_ids(
        tiny_checkpoint, to_hf_messages(messages), images, MAX_TOKENS
    )
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    served_tokens = [position.token for position in logprobs.content]
    assert served_tokens == reference_token_texts(tiny_checkpoint, expected_ids)
    assert reply.usage is not None
    assert reply.usage.completion_tokens == len(expected_ids)
    assert reply.usage.prompt_tokens == reference_prompt_length(
        tiny_checkpoint, to_hf_messages(messages), images
    )


BEAMS = 3
BEAM_TOKENS = 6


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_beam_search_equals_transformers(
    stream: bool, client: openai.OpenAI, model_id: str, tiny_checkpoint: Path
) -> None:
    """vLLM's `use_beam_search`, as `vllm serve` takes it: the n beams, best first, are
    transformers' num_beams search on the same checkpoint and picture, token for token."""
    messages, images = case_non_square_with_system()
    served = served_beams(client, model_id, messages, stream)
    expected = reference_beam_ids(
        tiny_checkpoint, to_hf_messages(messages), images, BEAMS, BEAM_TOKENS
    )
    assert [served[index] for index in range(BEAMS)] == expected
    assert len({tuple(beam) for beam in expected}) == BEAMS


def served_beams(
    client: openai.OpenAI, model_id: str, messages: Messages, stream: bool
) -> dict[int, list[int]]:
    """Each beam's token ids (vLLM's return_token_ids), by choice index."""
    extra = {"use_beam_search": True, "ignore_eos": True, "return_token_ids": True}
    request = client.chat.completions.create
    choices: list[Any] = []
    if stream:
        for chunk in request(
            model=model_id,
            messages=messages,
            max_tokens=BEAM_TOKENS,
            n=BEAMS,
            stream=True,
            extra_body=extra,
        ):
            choices += chunk.choices
    else:
        reply = request(
            model=model_id, messages=messages, max_tokens=BEAM_TOKENS, n=BEAMS, extra_body=extra
        )
        choices = list(reply.choices)
    served: dict[int, list[int]] = {}
    for choice in choices:
        served.setdefault(choice.index, []).extend((choice.model_extra or {}).get("token_ids", []))
    return served


def test_answers_depend_on_the_image(client: openai.OpenAI, model_id: str) -> None:
    """Guards the test above against a checkpoint whose output ignores its input."""
    answers = {
        client.chat.completions.create(
            model=model_id,
            messages=[user_message("What is it?", data_url(encode(scene(64, 64, s))))],
            max_tokens=8,
            temperature=0,
        )
        .choices[0]
        .message.content
        for s in (31, 32, 33)
    }
    assert len(answers) == 3
