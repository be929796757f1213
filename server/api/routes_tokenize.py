"""POST /tokenize (vLLM's route): a prompt's token count, image tokens included."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from server.api.state import chat_service
from server.chat.service import ChatService
from server.chat.tokenize import TokenizeRequest

router = APIRouter()


@router.post("/tokenize")
async def tokenize(
    request: TokenizeRequest, chat: Annotated[ChatService, Depends(chat_service)]
) -> dict[str, Any]:
    # Tokenizing is CPU work: off the event loop, as the chat route's prompt building is not
    # (that one is short; a tokenize call may carry a long text on purpose).
    return await run_in_threadpool(chat.tokenize, request)
