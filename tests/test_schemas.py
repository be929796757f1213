"""The request schema and the media decoding, without an engine."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.chat.schemas import ChatCompletionRequest
from server.errors import BadRequestError, PayloadTooLargeError
from server.media.decode import ImageLimits, decode_image
from server.media.fetch import decode_data_url
from server.prompts.ending import PromptEnding
from tests.images import data_url, encode, scene


def request(**fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    )


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert request(max_tokens=5, max_completion_tokens=7).requested_max_tokens == 7
    assert request(max_tokens=5).requested_max_tokens == 5


def test_stop_as_string_or_list() -> None:
    assert request(stop="x").stop_sequences == ["x"]
    assert request(stop=["a", "b"]).stop_sequences == ["a", "b"]
    with pytest.raises(ValidationError):
        request(stop=[""])


def test_unsupported_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="chat_template_kwargs"):
        request(chat_template_kwargs={})


def test_beam_search_refuses_every_field_it_would_not_apply_at_once() -> None:
    with pytest.raises(ValidationError) as refusal:
        request(use_beam_search=True, top_p=0.5, stop="x", logprobs=True, min_tokens=2)
    assert "use_beam_search does not apply top_p, stop, min_tokens, logprobs" in str(refusal.value)
    # Neutral values, as clients send by default, are not refused.
    neutral = request(use_beam_search=True, n=2, top_p=1.0, presence_penalty=0, stop=[])
    assert neutral.use_beam_search and neutral.length_penalty == 1.0


@pytest.mark.parametrize(
    ("fields", "ending"),
    [
        ({}, PromptEnding.GENERATION_PROMPT),
        ({"add_generation_prompt": False}, PromptEnding.NONE),
        ({"add_generation_prompt": False, "continue_final_message": True}, PromptEnding.CONTINUE),
    ],
)
def test_the_prompt_ending_follows_vllms_fields(
    fields: dict[str, object], ending: PromptEnding
) -> None:
    assert request(**fields).prompt_ending is ending


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"continue_final_message": True}, "needs add_generation_prompt set to false"),
        ({"priority": 1}, "priority must be 0"),
    ],
)
def test_vllm_fields_we_cannot_honour_are_refused_with_why(
    fields: dict[str, object], words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        request(**fields)


def test_images_only_in_user_messages() -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    with pytest.raises(ValidationError, match="only user messages"):
        request(messages=[{"role": "assistant", "content": [part]}])


def test_data_url_round_trip_and_limits() -> None:
    png = encode(scene(20, 10, 0))
    assert decode_data_url(data_url(png), 10_000).data == png
    with pytest.raises(PayloadTooLargeError):
        decode_data_url(data_url(png), 10)
    with pytest.raises(BadRequestError, match="base64"):
        decode_data_url("data:image/png;base64,!!!!", 10_000)


def test_decode_image_checks_size_before_decoding() -> None:
    limits = ImageLimits(max_pixels=1000)
    image = decode_image(encode(scene(30, 20, 0)), "image/png", limits).image
    assert image.size == (30, 20) and image.mode == "RGB"
    with pytest.raises(BadRequestError, match="30x40"):
        decode_image(encode(scene(30, 40, 0)), "image/png", limits)
    with pytest.raises(BadRequestError, match="empty"):
        decode_image(b"", None, limits)


def test_a_lone_surrogate_is_refused_by_name() -> None:
    """JSON can escape half of a UTF-16 pair; no tokenizer can encode it (it was a 500)."""
    with pytest.raises(ValidationError, match="surrogate"):
        request(messages=[{"role": "user", "content": "a\ud800b"}])
    with pytest.raises(ValidationError, match="surrogate"):
        request(stop=["x\udc00"])
    assert request(messages=[{"role": "user", "content": "a\U0001f600b"}])  # a real pair is fine


@pytest.mark.parametrize("field", ["max_tokens", "n", "seed", "temperature", "top_p"])
def test_a_boolean_is_not_a_number(field: str) -> None:
    """Pydantic's lax mode would read true as 1."""
    with pytest.raises(ValidationError, match="not a boolean"):
        request(**{field: True})
