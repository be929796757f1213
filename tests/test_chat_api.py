"""The OpenAI chat API through the official SDK, against the real server on tiny-llava-hf."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.images import Messages, data_url, encode, scene, user_message
from tests.reference_hf import (
    load_reference,
    reference_greedy_continuation,
    reference_prompt_length,
    to_hf_messages,
)


def png_url(seed: int, width: int = 64, height: int = 64) -> str:
    return data_url(encode(scene(width, height, seed)))


def ask(client: openai.OpenAI, model: str, messages: Messages, **options: Any) -> Any:
    return client.chat.completions.create(model=model, messages=messages, **options)


def test_non_streaming_with_data_url_image(client: openai.OpenAI, model_id: str) -> None:
    reply = ask(
        client,
        model_id,
        [user_message("What is in the picture?", png_url(1))],
        max_tokens=8,
        temperature=0,
    )
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-")
    assert reply.model == model_id
    choice = reply.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.completion_tokens >= 1
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_prompt_tokens_count_image_tokens(
    client: openai.OpenAI, model_id: str, tiny_checkpoint: Path
) -> None:
    images = [scene(64, 64, 2), scene(50, 70, 3)]
    for count in (0, 1, 2):
        messages = [user_message("Describe.", *[data_url(encode(i)) for i in images[:count]])]
        reply = ask(client, model_id, messages, max_tokens=1)
        expected = reference_prompt_length(
            tiny_checkpoint, to_hf_messages(messages), images[:count]
        )
        assert reply.usage is not None and reply.usage.prompt_tokens == expected


def test_streaming_matches_non_streaming(client: openai.OpenAI, model_id: str) -> None:
    messages = [user_message("Tell me about it.", png_url(4))]
    whole = ask(client, model_id, messages, max_tokens=12, temperature=0)
    chunks = list(ask(client, model_id, messages, max_tokens=12, temperature=0, stream=True))
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == whole.choices[0].message.content
    finish = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices]
    assert finish[-1] == whole.choices[0].finish_reason
    assert all(reason is None for reason in finish[:-1])


def test_stream_ends_with_done_and_usage_chunk(base_url: str, model_id: str) -> None:
    body = {
        "model": model_id,
        "messages": [user_message("Hi", png_url(5))],
        "max_tokens": 5,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, timeout=60) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = [line for line in reply.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"
    usage_chunk = openai.types.chat.ChatCompletionChunk.model_validate_json(events[-2][6:])
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None and usage_chunk.usage.completion_tokens == 5


def test_http_image_url(client: openai.OpenAI, model_id: str, image_host: tuple[str, Path]) -> None:
    host, folder = image_host
    (folder / "scene.jpg").write_bytes(encode(scene(120, 80, 6), "JPEG"))
    messages_http = [user_message("What is this?", f"{host}/scene.jpg")]
    jpeg = (folder / "scene.jpg").read_bytes()
    messages_data = [user_message("What is this?", data_url(jpeg, "image/jpeg"))]
    by_url = ask(client, model_id, messages_http, max_tokens=8, temperature=0)
    by_data = ask(client, model_id, messages_data, max_tokens=8, temperature=0)
    assert by_url.choices[0].message.content == by_data.choices[0].message.content


def test_two_images_in_one_message(client: openai.OpenAI, model_id: str) -> None:
    reply = ask(
        client,
        model_id,
        [user_message("Compare them.", png_url(7), png_url(8))],
        max_tokens=8,
        temperature=0,
    )
    assert reply.choices[0].message.content


def test_text_only_with_system_and_history(client: openai.OpenAI, model_id: str) -> None:
    messages: Messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "What can you do?"},
    ]
    reply = ask(client, model_id, messages, max_tokens=8)
    assert reply.choices[0].message.content is not None


def test_n_two_gives_two_choices(client: openai.OpenAI, model_id: str) -> None:
    reply = ask(
        client, model_id, [user_message("Say something.", png_url(9))], max_tokens=6, n=2, seed=3
    )
    assert sorted(choice.index for choice in reply.choices) == [0, 1]
    assert reply.usage is not None and reply.usage.completion_tokens >= 2


def test_n_two_streaming(client: openai.OpenAI, model_id: str) -> None:
    chunks = list(
        ask(
            client,
            model_id,
            [user_message("Go.", png_url(9))],
            max_tokens=4,
            n=2,
            seed=5,
            stream=True,
        )
    )
    indices = {choice.index for chunk in chunks for choice in chunk.choices}
    assert indices == {0, 1}
    finished = [c for chunk in chunks for c in chunk.choices if c.finish_reason is not None]
    assert sorted(choice.index for choice in finished) == [0, 1]


def test_logprobs_with_top_logprobs(client: openai.OpenAI, model_id: str) -> None:
    reply = ask(
        client,
        model_id,
        [user_message("Name a colour.", png_url(10))],
        max_tokens=5,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert len(logprobs.content) == reply.usage.completion_tokens
    for position in logprobs.content:
        assert position.logprob <= 0
        assert len(position.top_logprobs) == 3
        best = max(item.logprob for item in position.top_logprobs)
        # Greedy: the chosen token is the most likely one.
        assert abs(position.logprob - best) < 1e-4


def test_stop_sequence_cuts_the_answer(client: openai.OpenAI, model_id: str) -> None:
    messages = [user_message("Continue.", png_url(11))]
    full = ask(client, model_id, messages, max_tokens=16, temperature=0).choices[0].message.content
    assert full and len(full) > 3
    stop = full[len(full) // 2 :][:2]
    cut = ask(client, model_id, messages, max_tokens=16, temperature=0, stop=[stop])
    content = cut.choices[0].message.content
    assert cut.choices[0].finish_reason == "stop"
    assert content == full[: full.index(stop)]


def test_seed_gives_the_same_text_twice(client: openai.OpenAI, model_id: str) -> None:
    messages = [user_message("Write freely.", png_url(12))]
    first = ask(client, model_id, messages, max_tokens=12, temperature=1.0, seed=1234)
    second = ask(client, model_id, messages, max_tokens=12, temperature=1.0, seed=1234)
    assert first.choices[0].message.content == second.choices[0].message.content


def test_max_tokens_gives_finish_reason_length(client: openai.OpenAI, model_id: str) -> None:
    reply = ask(client, model_id, [user_message("Talk.", png_url(13))], max_tokens=3, temperature=0)
    if reply.choices[0].finish_reason == "length":
        assert reply.usage is not None and reply.usage.completion_tokens == 3
    reply = ask(
        client,
        model_id,
        [user_message("Talk.", png_url(13))],
        max_completion_tokens=2,
        temperature=1.0,
        seed=7,
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 2


def test_models_health_and_ready(client: openai.OpenAI, base_url: str, model_id: str) -> None:
    models = client.models.list()
    assert [model.id for model in models.data] == [model_id]
    assert httpx.get(f"{base_url}/health").status_code == 200
    assert httpx.get(f"{base_url}/ready").json()["status"] == "ready"


def test_response_id_carries_the_request_id(base_url: str, model_id: str) -> None:
    """The engine request id (also the response id) joins up with the client's X-Request-Id."""
    body = {"model": model_id, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    headers = {"X-Request-Id": "trace-42"}
    reply = httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=headers, timeout=120)
    assert reply.status_code == 200 and reply.headers["x-request-id"] == "trace-42"
    assert re.fullmatch(r"chatcmpl-trace-42-[0-9a-f]{8}", reply.json()["id"])


def test_continue_final_message_goes_on_with_the_assistants_text(
    client: openai.OpenAI, model_id: str, tiny_checkpoint: Path
) -> None:
    """vLLM's continue_final_message (add_generation_prompt false) and echo: the prompt is the
    chat template's rendering cut after the final assistant text, as transformers renders it
    with its own continue_final_message; the greedy tokens after it equal transformers'; echo
    puts that text before the answer, in full and streamed answers alike."""
    messages: Messages = [
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "The answer is"},
    ]
    extra = {"add_generation_prompt": False, "continue_final_message": True, "echo": True}
    reply = ask(
        client,
        model_id,
        messages,
        max_tokens=6,
        temperature=0,
        extra_body={**extra, "return_token_ids": True},
    )
    _, processor = load_reference(tiny_checkpoint)
    hf_messages = [
        {"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in messages
    ]
    text = processor.apply_chat_template(hf_messages, continue_final_message=True, tokenize=False)
    assert text.endswith("ASSISTANT: The answer is")
    # vLLM's chat adds no special tokens to a rendering (the template writes the <s>).
    prompt_ids = processor.tokenizer(text, add_special_tokens=False)["input_ids"]
    body = reply.model_dump()
    assert body["prompt_token_ids"] == prompt_ids
    expected = reference_greedy_continuation(tiny_checkpoint, prompt_ids, 6)
    assert body["choices"][0]["token_ids"] == expected
    answer = processor.tokenizer.decode(expected, skip_special_tokens=True)
    assert reply.choices[0].message.content == "The answer is" + answer
    stream = client.chat.completions.create(
        model=model_id,
        messages=messages,
        max_tokens=6,
        temperature=0,
        stream=True,
        extra_body=extra,
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert streamed == reply.choices[0].message.content
