"""POST /v1/responses: a response object as JSON, or its SSE event stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from server.api.routes_completions import SSE_HEADERS
from server.api.state import chat_service
from server.chat.service import ChatService
from server.responses.response import new_response_id
from server.responses.schemas import ResponsesRequest
from server.responses.service import ResponsesService

router = APIRouter()


@router.post("/v1/responses", response_model=None)
async def responses(
    request: ResponsesRequest,
    chat: Annotated[ChatService, Depends(chat_service)],
    http: Request,
) -> JSONResponse | StreamingResponse:
    service = ResponsesService(chat)
    request_id = new_response_id()
    # For the lifecycle middleware: it aborts this engine request if the client goes away.
    http.state.engine_request_id = request_id
    prepared = await service.prepare(request, request_id)
    if request.stream:
        return StreamingResponse(
            service.stream(prepared), media_type="text/event-stream", headers=SSE_HEADERS
        )
    return JSONResponse(await service.complete(prepared))
