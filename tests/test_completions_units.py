"""The completions request and its logprobs object, without an engine."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from vllm.logprobs import Logprob

from server.completions.logprobs import legacy_logprobs, next_offset
from server.completions.schemas import CompletionRequest


def request(**fields: object) -> CompletionRequest:
    return CompletionRequest.model_validate({"model": "m", "prompt": "hi", **fields})


@pytest.mark.parametrize(
    ("prompt", "batch"),
    [
        ("text", ["text"]),
        ([5, 6, 7], [[5, 6, 7]]),
        (["a", "b"], ["a", "b"]),
        ([[1, 2], [3]], [[1, 2], [3]]),
    ],
)
def test_every_prompt_form_is_a_batch(prompt: object, batch: list[object]) -> None:
    assert request(prompt=prompt).prompts == batch


def test_explicit_nulls_mean_the_defaults() -> None:
    parsed = request(n=None, max_tokens=None, echo=None, logprobs=None, stream=None, stop=None)
    assert parsed.choices_per_prompt == 1 and parsed.stop_sequences == [] and not parsed.echo_only


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"prompt": []}, "must not be empty"),
        ({"prompt": ["x"] * 65}, "1 to 64 prompts"),
        ({"max_tokens": 0}, "needs echo"),
        ({"suffix": "x", "best_of": 2}, "best_of other than n, suffix"),
        ({"prompt": ["x"] * 10, "n": 13}, "prompts x n"),
        ({"stream_options": {"include_usage": True}}, "only allowed when stream"),
        ({"truncate_prompt_tokens": 0}, "-1 \\(the context\\) or at least 1"),
        (
            {"use_beam_search": True, "top_p": 0.5, "min_p": 0.1, "logprobs": 0},
            "use_beam_search does not apply top_p, min_p, logprobs",
        ),
    ],
)
def test_refusals_name_the_problem(fields: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        request(**fields)


def test_echo_with_max_tokens_zero_is_echo_only() -> None:
    assert request(echo=True, max_tokens=0).echo_only


def spell(token_id: int) -> bytes:
    return {1: b"<s>", 2: b"Hello", 3: b" world", 4: b"!"}[token_id]


def test_legacy_logprobs_shape() -> None:
    positions = [
        None,
        {2: Logprob(-1.5, rank=2), 3: Logprob(-0.5, rank=1)},
        {3: Logprob(float("-inf"), rank=4), 4: Logprob(-0.1, rank=1)},
    ]
    built = legacy_logprobs([1, 2, 3], positions, top=1, spell=spell, first_offset=10)
    assert built.tokens == ["<s>", "Hello", " world"]
    assert built.token_logprobs == [None, -1.5, -9999.0]
    assert built.top_logprobs == [
        None,
        {"Hello": -1.5, " world": -0.5},
        {" world": -9999.0, "!": -0.1},
    ]
    assert built.text_offset == [10, 13, 18]
    assert next_offset(built, 10) == 24
