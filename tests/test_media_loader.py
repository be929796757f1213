"""The media loader in-process (no engine): data: URLs, the decoded-image cache's checks, the
pixel budgets and download fairness."""

from __future__ import annotations

import base64

import pytest

from server.errors import BadRequestError
from server.media.fetch import decode_data_url
from tests.images import encode, scene

PNG = encode(scene(40, 40, 3))
PAYLOAD = base64.b64encode(PNG).decode()


@pytest.mark.parametrize(
    "header", ["data:image/png;base64", "data:image/png;BASE64", "data:IMAGE/PNG;Base64"]
)
def test_data_url_tokens_are_case_insensitive(header: str) -> None:
    media = decode_data_url(f"{header},{PAYLOAD}", 1 << 20)
    assert media.data == PNG and media.media_type == "image/png"


@pytest.mark.parametrize("header", ["data:image/png", "data:image/png;charset=base64"])
def test_data_url_without_the_base64_token_is_refused(header: str) -> None:
    with pytest.raises(BadRequestError, match="Only base64"):
        decode_data_url(f"{header},{PAYLOAD}", 1 << 20)
