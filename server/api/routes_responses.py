"""POST /v1/responses: a response object as JSON, or its SSE event stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse

from server.api.answers import json_or_stream
from server.api.engine_ids import engine_request_id
from server.api.json_body import PydanticJsonRoute
from server.api.paths import RESPONSES
from server.api.state import chat_service
from server.chat.service import ChatService
from server.responses.schemas import ResponsesRequest
from server.responses.service import ResponsesService

router = APIRouter(route_class=PydanticJsonRoute)


@router.post(RESPONSES, response_model=None)
async def responses(
    request: ResponsesRequest,
    chat: Annotated[ChatService, Depends(chat_service)],
    request_id: Annotated[str, Depends(engine_request_id)],
) -> JSONResponse | StreamingResponse:
    service = ResponsesService(chat)
    prepared = await service.prepare(request, request_id)
    return await json_or_stream(
        request.stream, lambda: service.stream(prepared), lambda: service.complete(prepared)
    )
