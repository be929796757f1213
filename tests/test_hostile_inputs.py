"""One bad request never hurts another: hostile bodies against the real shared server each get a
4xx in the OpenAI envelope with a message naming the problem; after the whole suite, a normal
request still gets transformers' greedy answer and /health is 200. Keep the last test last."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.images import data_url, encode, scene, user_message
from tests.reference_hf import (
    reference_greedy_ids,
    reference_token_texts,
    render_prompt,
    to_hf_messages,
)
from tests.support.inprocess import app_without_engine, request

PNG = encode(scene(48, 48, 9))
TIMEOUT_S = 120  # a bound on each request, so a hang fails the test instead of stalling it


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 8))


def with_image(url: str, text: str = "What is it?") -> dict[str, Any]:
    return {"messages": [user_message(text, url)]}


def post(base_url: str, body: dict[str, Any] | bytes, **headers: str) -> httpx.Response:
    url = f"{base_url}/v1/chat/completions"
    if isinstance(body, bytes):
        headers = {"content-type": "application/json", **headers}
        return httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_S)
    return httpx.post(url, json=body, headers=headers, timeout=TIMEOUT_S)


def assert_client_error(response: httpx.Response, fragment: str, status: int = 400) -> None:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert error["type"] in ("invalid_request_error", "authentication_error")
    assert fragment.lower() in error["message"].lower(), error["message"]


IMAGE_CASES: dict[str, tuple[str, str, int]] = {
    "truncated PNG": (data_url(PNG[: len(PNG) // 2]), "could not be decoded", 400),
    "zero-byte body": ("data:image/png;base64,", "empty", 400),
    "1x1 image": (data_url(encode(scene(1, 1, 1))), "at least", 400),
    "header claims 30000x30000": (data_url(png_claiming(30000, 30000)), "too many pixels", 400),
    "header claims 8000x6000": (data_url(png_claiming(8000, 6000)), "8000x6000", 400),
    "SVG disguised as PNG": (data_url(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "format", 400),
    "TIFF disguised as PNG": (data_url(encode(scene(16, 16, 2), "TIFF")), "format", 400),
    "PDF disguised as PNG": (data_url(b"%PDF-1.4\n1 0 obj<<>>endobj\n"), "format", 400),
    "invalid base64": ("data:image/png;base64,@@@not-base64@@@", "base64", 400),
    "lying MIME type": (data_url(PNG, "image/jpeg"), "declared as image/jpeg", 400),
    "SVG MIME type": (data_url(PNG, "image/svg+xml"), "media type", 400),
    "non-base64 data URL": ("data:image/png,rawbytes", "base64", 400),
    "unknown scheme": ("javascript:alert(1)", "scheme", 400),
    "metadata address": ("http://169.254.169.254/latest/meta-data/", "metadata", 400),
    "private address": ("http://10.0.0.1/x.png", "private", 400),
}


@pytest.mark.parametrize("name", list(IMAGE_CASES))
def test_hostile_image(base_url: str, model_id: str, name: str) -> None:
    url, fragment, status = IMAGE_CASES[name]
    assert_client_error(post(base_url, {"model": model_id, **with_image(url)}), fragment, status)


def test_50_megabyte_base64_string() -> None:
    """Refused from its Content-Length, before the body is read: no engine needed."""
    payload = base64.b64encode(b"\0" * (37 * 1024 * 1024)).decode()  # 50 MB of base64
    body = {"model": "tiny-llava-hf", **with_image(f"data:image/png;base64,{payload}")}
    response = request(app_without_engine(), "POST", "/v1/chat/completions", json=body)
    assert_client_error(response, "larger than", 413)


def test_chunked_body_over_the_cap_is_cut_off(base_url: str) -> None:
    """No Content-Length: the cap is enforced while the body streams in."""

    def endless_json() -> Iterator[bytes]:
        yield b'{"model": "m", "messages": [{"role": "user", "content": "'
        for _ in range(40):  # 40 MiB, over the 32 MiB default cap
            yield b"a" * (1 << 20)
        yield b'"}]}'

    url = f"{base_url}/v1/chat/completions"
    headers = {"content-type": "application/json"}
    response = httpx.post(url, content=endless_json(), headers=headers, timeout=TIMEOUT_S)
    assert_client_error(response, "larger than", 413)


def test_more_images_than_the_model_allows(base_url: str, model_id: str) -> None:
    message = user_message("Compare.", *[data_url(PNG)] * 5)
    body = {"model": model_id, "messages": [message]}
    assert_client_error(post(base_url, body), "at most 4")


def test_placeholder_text_without_images_is_literal_text(
    base_url: str, model_id: str, client: openai.OpenAI, tiny_checkpoint: Path
) -> None:
    """A typed <image> is text: the prompt is the template's rendering tokenized with special-
    token matching off (the <s> the template writes stays special), not an image slot."""
    from tests.reference_hf import load_reference

    messages: list[Any] = [{"role": "user", "content": "<image> <image>\nWhat is </s> this?"}]
    reply = client.chat.completions.create(model=model_id, messages=messages, max_tokens=2)
    _, processor = load_reference(tiny_checkpoint)
    tokenizer = processor.tokenizer
    rendered = render_prompt(tiny_checkpoint, to_hf_messages(messages))
    assert rendered.startswith("<s>")
    literal = tokenizer(rendered[3:], add_special_tokens=False, split_special_tokens=True)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == 1 + len(literal["input_ids"])


def test_placeholder_text_next_to_a_real_image_keeps_one_slot(base_url: str, model_id: str) -> None:
    body = {"model": model_id, **with_image(data_url(PNG), "<image><image> describe <image>")}
    body["max_tokens"] = 2
    response = post(base_url, body)
    assert response.status_code == 200, response.text


RAW_BODIES: dict[str, tuple[bytes, str]] = {
    "invalid UTF-8": (b'{"model": "m", "messages": [{"role": "user", "content": "\xff\xfe"}]}', ""),
    "raw control characters": (
        b'{"model": "m", "messages": [{"role": "user", "content": "a\x01"}]}',
        "",
    ),
    "deeply nested JSON": (b"[" * 100_000 + b"]" * 100_000, ""),
    "not JSON": (b"this is not json", "json"),
    "empty body": (b"", ""),
    "NaN temperature": (b'{"model": "m", "messages": [], "temperature": NaN}', ""),
}


@pytest.mark.parametrize("name", list(RAW_BODIES))
def test_malformed_body(base_url: str, name: str) -> None:
    body, fragment = RAW_BODIES[name]
    response = post(base_url, body)
    assert 400 <= response.status_code < 500, response.text[:300]
    assert "error" in response.json()
    assert fragment in response.text.lower()


def test_escaped_control_characters_are_plain_text(base_url: str, model_id: str) -> None:
    body = {"model": model_id, "messages": [{"role": "user", "content": "a\u0000b\u001b[2J\ud7ff"}]}
    response = post(base_url, {**body, "max_tokens": 2})
    assert response.status_code == 200, response.text


WRONG_TYPES: dict[str, Any] = {
    "model": 5,
    "messages": "hi",
    "max_tokens": "ten",
    "max_completion_tokens": [1],
    "temperature": "hot",
    "top_p": {},
    "top_k": 1.5,
    "seed": "s",
    "stop": 7,
    "n": "two",
    "presence_penalty": [],
    "frequency_penalty": "x",
    "logprobs": "yes please",
    "top_logprobs": "three",
    "stream": "maybe",
    "stream_options": 1,
    "user": 9,
}


@pytest.mark.parametrize("field", list(WRONG_TYPES))
def test_wrong_type_for_every_field(base_url: str, model_id: str, field: str) -> None:
    body = {"model": model_id, "messages": [{"role": "user", "content": "hi"}]}
    body[field] = WRONG_TYPES[field]
    response = post(base_url, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].split(".")[0] == field


OUT_OF_RANGE: dict[str, tuple[dict[str, Any], str]] = {
    "n": ({"n": 10_000}, "n"),
    "n zero": ({"n": 0}, "n"),
    "n above the model's cap": ({"n": 50}, "n"),
    "top_logprobs": ({"logprobs": True, "top_logprobs": 1000}, "top_logprobs"),
    "max_tokens": ({"max_tokens": 10**9}, "max_tokens"),
    "max_tokens past the context": ({"max_tokens": 600}, "max_tokens"),
    "max_tokens zero": ({"max_tokens": 0}, "max_tokens"),
    "temperature": ({"temperature": 99}, "temperature"),
    "negative temperature": ({"temperature": -1}, "temperature"),
    "top_p": ({"top_p": 0}, "top_p"),
    "huge stop list": ({"stop": ["x"] * 100_000}, "stop"),
    "long stop sequence": ({"stop": ["x" * 10_000]}, "stop"),
    "unknown role": ({"messages": [{"role": "root", "content": "hi"}]}, "role"),
    "tool result without its call id": (
        {"messages": [{"role": "tool", "content": "hi"}]},
        "tool_call_id",
    ),
    "empty messages": ({"messages": []}, "messages"),
    "empty content parts": ({"messages": [{"role": "user", "content": []}]}, "content"),
    "too many messages": ({"messages": [{"role": "user", "content": "a"}] * 1000}, "messages"),
    "text too long": ({"messages": [{"role": "user", "content": "a" * 300_000}]}, "content"),
    "tool without a function": ({"tools": [{"type": "function"}]}, "tools"),
    "unknown model": ({"model": "gpt-5"}, "model"),
}


@pytest.mark.parametrize("name", list(OUT_OF_RANGE))
def test_out_of_range_parameter(base_url: str, model_id: str, name: str) -> None:
    changes, named = OUT_OF_RANGE[name]
    body = {"model": model_id, "messages": [{"role": "user", "content": "hi"}], **changes}
    response = post(base_url, body)
    assert 400 <= response.status_code < 500, response.text[:300]
    error = response.json()["error"]
    assert named in (error["param"] or "") + error["message"], error


def test_prompt_past_the_context_names_the_numbers(base_url: str, model_id: str) -> None:
    body = {"model": model_id, "messages": [{"role": "user", "content": "word " * 2000}]}
    response = post(base_url, body)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "512" in message and "tokens" in message


def test_after_the_hostile_suite_the_server_answers_correctly(
    base_url: str, client: openai.OpenAI, model_id: str, tiny_checkpoint: Path
) -> None:
    """Runs last in this module: the engine survived everything above, answers stay exact."""
    assert httpx.get(f"{base_url}/health", timeout=10).status_code == 200
    image = scene(64, 64, 21)
    messages: list[Any] = [user_message("What colour is the ball?", data_url(encode(image)))]
    reply = client.chat.completions.create(
        model=model_id, messages=messages, max_tokens=8, temperature=0, logprobs=True
    )
    expected = reference_greedy_ids(tiny_checkpoint, to_hf_messages(messages), [image], 8)
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    served = [position.token for position in logprobs.content]
    assert served == reference_token_texts(tiny_checkpoint, expected)
    assert httpx.get(f"{base_url}/health", timeout=10).status_code == 200
    assert json.loads(httpx.get(f"{base_url}/ready", timeout=10).text)["status"] == "ready"
