"""POST /v1/completions: JSON, or an SSE stream ending with `data: [DONE]`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from server.api.state import chat_service
from server.chat.service import ChatService
from server.completions.schemas import CompletionRequest
from server.completions.service import CompletionService, engine_request_ids, new_request_id

router = APIRouter()

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post("/v1/completions", response_model=None)
async def completions(
    request: CompletionRequest,
    chat: Annotated[ChatService, Depends(chat_service)],
    http: Request,
) -> JSONResponse | StreamingResponse:
    service = CompletionService(chat)
    request_id = new_request_id()
    # For the lifecycle middleware: it aborts these engine requests if the client goes away.
    http.state.engine_request_id = engine_request_ids(request_id, len(request.prompts))
    prepared = await service.prepare(request, request_id)
    if request.stream:
        return StreamingResponse(
            service.stream(prepared), media_type="text/event-stream", headers=SSE_HEADERS
        )
    return JSONResponse(await service.complete(prepared))
