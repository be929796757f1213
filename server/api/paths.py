"""The API's generation paths, named once for the routes and the middleware around them."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

CHAT_COMPLETIONS: Final = "/v1/chat/completions"
COMPLETIONS: Final = "/v1/completions"
RESPONSES: Final = "/v1/responses"

# The routes that generate (POST only): the lifecycle middleware admits, times and aborts their
# requests, and mints each one's engine request id, which is also the response id, with the
# route's prefix (OpenAI's: "chatcmpl-...", "cmpl-...", "resp_..."). A route that runs several
# engine requests (one per prompt of a batch) derives theirs as `{id}-{index}`.
GENERATION_ROUTES: Final[Mapping[str, str]] = MappingProxyType(
    {CHAT_COMPLETIONS: "chatcmpl-", COMPLETIONS: "cmpl-", RESPONSES: "resp_"}
)
