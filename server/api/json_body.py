"""Request bodies parsed by pydantic-core's JSON parser instead of the standard library's.

FastAPI parses a JSON body with `json.loads` on the event loop, before the route runs. A
multi-megabyte data-URL image makes that the largest piece of work the loop does for a
request; pydantic-core's parser builds the same Python objects several times faster (see
docs/benchmarks.md, "The image path of a large data URL"). The route class hands FastAPI a
request whose `json()` uses it; everything else, validation and its error envelope included,
is FastAPI's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

_UNPARSED: Any = object()


class PydanticJsonRequest(Request):
    _parsed: Any = _UNPARSED

    async def body(self) -> bytes:
        """Starlette's body() joins the chunks it received, and the empty one that ends them:
        a copy of the whole body even when it came in one piece, as BodyReaderMiddleware
        hands it on. Here a single piece is kept as it is."""
        if not hasattr(self, "_body"):
            chunks = [chunk async for chunk in self.stream() if chunk]
            self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if self._parsed is _UNPARSED:
            body = await self.body()
            try:
                self._parsed = pydantic_core.from_json(body)
            except ValueError:
                # What pydantic-core refuses, the standard library decides, as FastAPI would:
                # it accepts a lone UTF-16 surrogate ("\\ud800"), which validation then refuses
                # by the field's name, and raises the JSONDecodeError that FastAPI turns into
                # its json_invalid error.
                self._parsed = json.loads(body)
        return self._parsed


class PydanticJsonRoute(APIRoute):
    """A route whose JSON body is parsed by pydantic-core (APIRouter(route_class=...))."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_with_pydantic_json(request: Request) -> Response:
            return await handle(PydanticJsonRequest(request.scope, request.receive))

        return handle_with_pydantic_json
