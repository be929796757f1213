"""A long prompt never stalls the server: text that cannot fit the context is refused before it
is tokenized (chat, completions, /tokenize), and prompts are rendered and tokenized off the
event loop, so while a long one is being tokenized /health and a normal chat request are
answered first (an ordering)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import openai
import pytest

from tests.ops_support import (
    CHAT_ROUTE,
    EVENT_TIMEOUT_S,
    metric,
    short_request,
    wait_for,
)
from tests.support.servers import RemoteServer

COMPLETIONS_ROUTE = "/v1/completions"
TOKENIZE_ROUTE = "/tokenize"
# The long profile's model (tests/models/tiny-llava-hf-long): a context long enough that a
# prompt passing the cheap character bound takes seconds to tokenize (the tiny model's 512
# tokens allow too little text for that).
LONG_MODEL = "tiny-llava-hf-long"
WORDS = "word " * 40_000  # 200,000 characters, 40,000 tokens


def _messages(count: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": WORDS}] * count


# Too much text for a 512-token context on each route that tokenizes client text: 3.2 MB of
# chat messages, a 200,000-character completions prompt, 3.2 MB to /tokenize.
TOO_LONG: dict[str, tuple[str, dict[str, Any]]] = {
    CHAT_ROUTE: ("messages", {"messages": _messages(16)}),
    COMPLETIONS_ROUTE: ("prompt", {"prompt": WORDS}),
    TOKENIZE_ROUTE: ("messages", {"messages": _messages(16)}),
}


@pytest.mark.parametrize("route", list(TOO_LONG))
def test_text_that_cannot_fit_is_refused_before_tokenizing(
    base_url: str, model_id: str, route: str
) -> None:
    """Refused by the character bound, which no tokenizing precedes."""
    param, fields = TOO_LONG[route]
    body = {"model": model_id, **fields}
    reply = httpx.post(f"{base_url}{route}", json=body, timeout=EVENT_TIMEOUT_S)
    assert reply.status_code == 400, reply.text[:300]
    error = reply.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["param"] == param
    assert "characters" in error["message"], error["message"]


# Long requests that pass the character bound of a 100,000-token context and are tokenized in
# full before they are refused as too long: 2 M characters on each route.
LONG_REQUESTS: dict[str, dict[str, Any]] = {
    # 10 messages of 40,000 tokens: 400,000 tokens.
    CHAT_ROUTE: {"messages": _messages(10)},
    # 10 prompts of 100,001 tokens each, every one past the context.
    COMPLETIONS_ROUTE: {"prompt": ["a " * 100_000] * 10},
}


@pytest.mark.parametrize("route", list(LONG_REQUESTS))
def test_a_long_prompt_does_not_hold_up_other_requests(
    long_server: RemoteServer, route: str
) -> None:
    """While the long request is tokenized, /health and a normal chat request are both
    answered before it."""
    url = long_server.url
    finished: dict[str, float] = {}
    statuses: dict[str, int] = {}

    def long_request() -> None:
        body = {"model": LONG_MODEL, "max_tokens": 1, **LONG_REQUESTS[route]}
        reply = httpx.post(f"{url}{route}", json=body, timeout=5 * EVENT_TIMEOUT_S)
        finished["long"] = time.monotonic()
        statuses["long"] = reply.status_code

    sender = threading.Thread(target=long_request)
    sender.start()
    # Admitted (its body read in full): from here on it is being parsed and tokenized.
    wait_for(lambda: metric(url, "llava_serve_requests_running") == 1, "the long prompt admitted")
    assert httpx.get(f"{url}/health", timeout=EVENT_TIMEOUT_S).status_code == 200
    finished["health"] = time.monotonic()
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    # One token: the least engine work after the prompt, so that on a loaded machine the
    # ordering still measures where tokenizing runs, not how fast the engine decodes.
    reply = client.chat.completions.create(**short_request(LONG_MODEL, max_tokens=1))
    finished["chat"] = time.monotonic()
    assert reply.usage is not None and reply.usage.completion_tokens == 1
    sender.join(timeout=5 * EVENT_TIMEOUT_S)
    assert statuses["long"] == 400
    assert finished["health"] < finished["long"] and finished["chat"] < finished["long"]
