"""Request bodies parsed by pydantic-core (server/api/json_body.py): the same Python objects as
the standard library gives, the same errors, on every route that takes a JSON body."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.routing import APIRoute

from server.api.json_body import PydanticJsonRequest, PydanticJsonRoute
from server.api.paths import GENERATION_ROUTES
from tests.support.inprocess import app_without_engine, request

BODIES = [
    b'{"content": "\\u00e9\\u00e8 \\ud83d\\ude00 \xc3\xa9", "list": [{"k": [1, 2.5, true, null]}]}',
    b'{"n": 123456789012345678901234567890, "t": 1e400, "p": -0.0, "x": NaN, "e": [], "o": {}}',
    b'{"a": 1, "a": 2, "s": "tab\\t quote\\" slash\\/ nul\\u0000"}',
    b'"a\\ud800b"',  # a lone surrogate: pydantic-core refuses it, json.loads takes it
]


def request_of(*pieces: bytes) -> PydanticJsonRequest:
    """A request whose body arrives in these pieces."""
    messages = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    messages[-1]["more_body"] = False

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    return PydanticJsonRequest(scope, receive)


def parse(body: bytes) -> object:
    return asyncio.run(request_of(body).json())


def test_a_body_in_one_piece_is_not_copied() -> None:
    """A multi-megabyte data URL's body is joined once, by BodyReaderMiddleware, not again."""
    body = b'{"url": "data:image/jpeg;base64,' + b"A" * 100_000 + b'"}'
    assert asyncio.run(request_of(body).body()) is body


def test_a_body_in_pieces_is_joined() -> None:
    assert asyncio.run(request_of(b'{"a":', b"", b" 1}").body()) == b'{"a": 1}'
    assert parse(b'{"a": 1}') == {"a": 1}


@pytest.mark.parametrize("body", BODIES)
def test_bodies_parse_as_the_standard_library_parses_them(body: bytes) -> None:
    parsed, expected = parse(body), json.loads(body)
    assert json.dumps(parsed) == json.dumps(expected)  # NaN != NaN; their dumps are equal


def test_invalid_json_raises_the_error_fastapi_turns_into_a_400() -> None:
    with pytest.raises(json.JSONDecodeError):
        parse(b'{"model": "m",')


def test_every_route_with_a_json_body_uses_the_pydantic_parser() -> None:
    app = app_without_engine()
    routes = {route.path: route for route in app.routes if isinstance(route, APIRoute)}
    for path in [*GENERATION_ROUTES, "/tokenize"]:
        assert isinstance(routes[path], PydanticJsonRoute), path
    json_body_routes = [route for route in routes.values() if route.body_field is not None]
    assert all(isinstance(route, PydanticJsonRoute) for route in json_body_routes)


def test_malformed_json_gets_the_openai_400() -> None:
    """On /tokenize, which parses its body while the model loads (the generation routes answer
    503 first; tests/test_errors.py sends them malformed JSON on a served model)."""
    reply = request(
        app_without_engine(),
        "POST",
        "/tokenize",
        content=b'{"model": "m",',
        headers={"content-type": "application/json"},
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["message"] == "The request body is not valid JSON."
