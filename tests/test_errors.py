"""Every refused request: its status, the OpenAI envelope, the SDK's exception, and a normal
request succeeding right after."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import openai
import pytest

from tests.images import data_url, encode, scene, user_message
from tests.support.inprocess import app_without_engine, request

GOOD_IMAGE = data_url(encode(scene(48, 48, 1)))


def post(base_url: str, body: object) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60)


def assert_envelope(reply: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    error: dict[str, Any] = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    for word in words:
        assert word in error["message"], error["message"]
    return error


def assert_still_serves(client: openai.OpenAI, model_id: str) -> None:
    reply = client.chat.completions.create(
        model=model_id, messages=[user_message("Still there?", GOOD_IMAGE)], max_tokens=2
    )
    assert reply.choices[0].message.content is not None


def body(model: str, **overrides: object) -> dict[str, object]:
    return {
        "model": model,
        "messages": [user_message("Hi", GOOD_IMAGE)],
        "max_tokens": 4,
        **overrides,
    }


def test_unknown_model_is_404(client: openai.OpenAI, model_id: str, base_url: str) -> None:
    error = assert_envelope(post(base_url, body("no-such-model")), 404, "no-such-model")
    assert error["code"] == "model_not_found" and error["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[user_message("x")])
    assert_still_serves(client, model_id)


BAD_IMAGES = {
    "not an image": data_url(b"this is plain text, not a picture"),
    "truncated png": data_url(encode(scene(64, 64, 2))[:60]),
    "invalid base64": "data:image/png;base64,@@@not-base64@@@",
    "not base64": "data:image/png,rawbytes",
    "text media type": "data:text/plain;base64," + base64.b64encode(b"hello").decode(),
    "unsupported scheme": "ftp://example.com/cat.png",
    "unreachable url": "http://127.0.0.1:9/cat.png",
}


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_image_is_400(case: str, client: openai.OpenAI, model_id: str, base_url: str) -> None:
    request = body(model_id, messages=[user_message("What?", BAD_IMAGES[case])])
    error = assert_envelope(post(base_url, request), 400)
    assert error["param"] == "image_url"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=model_id, messages=[user_message("What?", BAD_IMAGES[case])]
        )
    assert_still_serves(client, model_id)


def test_too_many_images_is_400(client: openai.OpenAI, model_id: str, base_url: str) -> None:
    request = body(model_id, messages=[user_message("Many", *[GOOD_IMAGE] * 5)])
    assert_envelope(post(base_url, request), 400, "5 images", "at most 4")
    assert_still_serves(client, model_id)


def test_typed_image_placeholder_is_plain_text(
    client: openai.OpenAI, model_id: str, base_url: str
) -> None:
    """A literal <image> typed without an image is text, not an image slot (the exact tokens
    are checked in tests/test_hostile_inputs.py)."""
    request = body(model_id, messages=[user_message("look <image> here")], max_tokens=2)
    assert post(base_url, request).status_code == 200
    assert_still_serves(client, model_id)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("temperature", 3.5, ["temperature"]),
        ("top_p", 0, ["top_p"]),
        ("n", 0, ["'n'"]),
        ("n", 50, ["n is 50", "at most 8"]),
        ("max_tokens", 0, ["max_tokens"]),
        ("max_tokens", 100000, ["max_tokens is 100000"]),
        ("max_tokens", True, ["'max_tokens'", "not a boolean"]),
        ("temperature", False, ["'temperature'", "not a boolean"]),
        ("top_logprobs", 3, ["top_logprobs needs logprobs"]),
        ("presence_penalty", 9, ["presence_penalty"]),
        ("stop", ["a", "b", "c", "d", "e"], ["at most 4"]),
        ("messages", [], ["messages"]),
        ("tools", [{"type": "function"}], ["'tools.0.function'", "Field required"]),
        ("response_format", {"type": "xml"}, ["'response_format'", "'xml'"]),
        ("chat_template", "{{ x }}", ["Unsupported parameter", "'chat_template'"]),
        ("length_penalty", 99, ["length_penalty"]),
        ("min_tokens", 100000, ["min_tokens is 100000", "generates at most"]),
        # What only vLLM's own SamplingParams check refuses: its message, as a 400.
        ("bad_words", ["spam", ""], ["bad_words cannot contain an empty string"]),
    ],
)
def test_bad_parameter_is_400(
    field: str, value: object, words: list[str], client: openai.OpenAI, model_id: str, base_url: str
) -> None:
    error = assert_envelope(post(base_url, body(model_id, **{field: value})), 400, *words)
    assert error["type"] == "invalid_request_error"
    assert_still_serves(client, model_id)


def test_bad_parameter_raises_sdk_bad_request(client: openai.OpenAI, model_id: str) -> None:
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(model=model_id, messages=[user_message("x")], temperature=5)


def test_unknown_role_and_malformed_json_are_400(
    model_id: str, base_url: str, client: openai.OpenAI
) -> None:
    request = body(model_id, messages=[{"role": "wizard", "content": "hi"}])
    assert_envelope(post(base_url, request), 400, "messages.0")
    reply = httpx.post(
        f"{base_url}/v1/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_envelope(reply, 400, "JSON")
    assert_still_serves(client, model_id)


def test_lone_surrogate_is_400(model_id: str, base_url: str, client: openai.OpenAI) -> None:
    """JSON can escape half of a UTF-16 pair ("\\ud800"): not valid Unicode, refused by name."""
    for content in ["a\ud800b", [{"type": "text", "text": "a\udc00b"}]]:
        request = body(model_id, messages=[{"role": "user", "content": content}])
        reply = httpx.post(
            f"{base_url}/v1/chat/completions",
            content=json.dumps(request).encode(),  # ASCII: the surrogate as a \u escape
            headers={"content-type": "application/json"},
        )
        assert_envelope(reply, 400, "messages.0.content")
    assert_still_serves(client, model_id)


def test_prompt_longer_than_context_is_400_with_numbers(
    client: openai.OpenAI, model_id: str, base_url: str
) -> None:
    long_text = "colour shape " * 400
    request = body(model_id, messages=[user_message(long_text, GOOD_IMAGE)])
    error = assert_envelope(post(base_url, request), 400, "context is 512 tokens")
    assert error["code"] == "context_length_exceeded"
    request = body(model_id, messages=[user_message("short", GOOD_IMAGE)], max_tokens=500)
    assert_envelope(post(base_url, request), 400, "512", "max_tokens asks for 500")
    assert_still_serves(client, model_id)


def test_unknown_route_is_404_envelope() -> None:
    assert_envelope(request(app_without_engine(), "GET", "/v1/nothing-here"), 404)
