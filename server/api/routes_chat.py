"""POST /v1/chat/completions: JSON, or an SSE stream ending with `data: [DONE]`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from server.api.state import chat_service
from server.chat.schemas import ChatCompletionRequest
from server.chat.service import ChatService, new_request_id

router = APIRouter()


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(
    request: ChatCompletionRequest,
    chat: Annotated[ChatService, Depends(chat_service)],
    http: Request,
) -> JSONResponse | StreamingResponse:
    request_id = new_request_id()
    # For the lifecycle middleware: it aborts this engine request if the client goes away.
    http.state.engine_request_id = request_id
    # Everything that can be refused is checked before the first byte, so errors keep their status.
    prepared = await chat.prepare(request, request_id)
    if request.stream:
        return StreamingResponse(
            chat.stream(prepared),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return JSONResponse(await chat.complete(prepared))
