"""How every generation route answers a prepared request: JSON, or an SSE stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse, StreamingResponse

# No caching, and no buffering by proxies (nginx honours X-Accel-Buffering): events must
# reach the client as they are produced.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def json_or_stream(
    streamed: bool | None,
    events: Callable[[], AsyncIterator[bytes]],
    answer: Callable[[], Awaitable[Any]],
) -> JSONResponse | StreamingResponse:
    if streamed:
        return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)
    return JSONResponse(await answer())
