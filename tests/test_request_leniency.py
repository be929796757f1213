"""What the chat request accepts as OpenAI does (nulls, developer, fields that change nothing),
and how a refusal reads: every unsupported field at once, a bad content part by its path."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from server.chat.schemas import ChatCompletionRequest
from server.errors import validation_error_body

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as refused:
        ChatCompletionRequest.model_validate(body)
    error: dict[str, Any] = validation_error_body(list(map(dict, refused.value.errors())), body)[
        "error"
    ]
    return error


def base(**fields: object) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}


def test_explicit_nulls_mean_the_defaults() -> None:
    nulls = dict.fromkeys(
        [
            "n",
            "logprobs",
            "stream",
            "presence_penalty",
            "frequency_penalty",
            "temperature",
            "top_p",
            "stop",
            "seed",
            "max_tokens",
            "response_format",
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "stream_options",
            "user",
            "logit_bias",
        ]
    )
    request = ChatCompletionRequest.model_validate(base(**nulls))
    assert request.n == 1 and request.logprobs is False and request.stream is False
    assert request.presence_penalty == 0.0 and request.stop_sequences == []


def test_fields_that_change_nothing_are_accepted() -> None:
    ChatCompletionRequest.model_validate(
        base(
            store=False,
            metadata={"team": "x"},
            service_tier="auto",
            parallel_tool_calls=False,
            safety_identifier="u1",
            prompt_cache_key="k",
            prompt_cache_retention="24h",
            modalities=["text"],
            user="me",
        )
    )
    part = {**IMAGE, "image_url": {"url": "data:image/png;base64,AA==", "detail": "low"}}
    ChatCompletionRequest.model_validate(
        base(
            messages=[
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [part, {"type": "text", "text": "x"}]},
            ]
        )
    )


def test_every_unsupported_field_is_named_in_one_message() -> None:
    error = refusal(base(chat_template_kwargs={}, audio={"voice": "x"}, store=False))
    assert "'chat_template_kwargs', 'audio'" in error["message"]
    assert error["code"] == "unsupported_parameter"


def test_a_bad_content_part_is_named_with_what_is_wrong() -> None:
    wrong_type = refusal(
        base(messages=[{"role": "user", "content": [{"type": "video", "video": {}}]}])
    )
    assert wrong_type["param"] == "messages.0.content.0"
    assert "'video'" in wrong_type["message"] and "valid string" not in wrong_type["message"]
    no_url = refusal(
        base(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}])
    )
    assert no_url["param"] == "messages.0.content.0.image_url.url"
    assert "Field required" in no_url["message"]


def test_messages_with_tools_are_checked() -> None:
    assert "needs content" in refusal(base(messages=[{"role": "user"}]))["message"]
    error = refusal(base(messages=[{"role": "tool", "content": "42"}]))
    assert "tool_call_id" in error["message"]
    error = refusal(base(messages=[{"role": "assistant", "content": [IMAGE]}]))
    assert "only user messages" in error["message"]
