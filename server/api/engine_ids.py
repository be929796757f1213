"""Engine request ids: the lifecycle middleware mints one per generation request and puts it in
the request's state before the route runs; the route takes it through the dependency below.
The same middleware aborts the engine request by this id when the client goes away."""

from __future__ import annotations

import secrets

from fastapi import Request

STATE_KEY = "engine_request_id"


def mint_engine_request_id(prefix: str, request_id: str) -> str:
    """`{prefix}{request id}-{8 hex}` (the prefix ends in OpenAI's separator: "chatcmpl-",
    "resp_"): joins the engine's logs to the access log's request id, and stays unique in the
    engine when a client sends the same X-Request-Id twice."""
    return f"{prefix}{request_id}-{secrets.token_hex(4)}"


async def engine_request_id(request: Request) -> str:
    """FastAPI dependency: the id minted for this request (async: no thread hand-off)."""
    minted: str = getattr(request.state, STATE_KEY)
    return minted
