"""POST /v1/chat/completions: JSON, or an SSE stream ending with `data: [DONE]`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse

from server.api.answers import json_or_stream
from server.api.engine_ids import engine_request_id
from server.api.json_body import PydanticJsonRoute
from server.api.paths import CHAT_COMPLETIONS
from server.api.state import chat_service
from server.chat.schemas import ChatCompletionRequest
from server.chat.service import ChatService

router = APIRouter(route_class=PydanticJsonRoute)


@router.post(CHAT_COMPLETIONS, response_model=None)
async def chat_completions(
    request: ChatCompletionRequest,
    chat: Annotated[ChatService, Depends(chat_service)],
    request_id: Annotated[str, Depends(engine_request_id)],
) -> JSONResponse | StreamingResponse:
    # Everything that can be refused is checked before the first byte, so errors keep their status.
    prepared = await chat.prepare(request, request_id)
    return await json_or_stream(
        request.stream, lambda: chat.stream(prepared), lambda: chat.complete(prepared)
    )
