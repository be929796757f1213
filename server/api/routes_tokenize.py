"""POST /tokenize (vLLM's route): a prompt's token count, image tokens included."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from server.api.json_body import PydanticJsonRoute
from server.api.state import chat_service
from server.chat.service import ChatService
from server.chat.tokenize import TokenizeRequest

router = APIRouter(route_class=PydanticJsonRoute)


@router.post("/tokenize")
async def tokenize(
    request: TokenizeRequest, chat: Annotated[ChatService, Depends(chat_service)]
) -> dict[str, Any]:
    return await chat.tokenize(request)
