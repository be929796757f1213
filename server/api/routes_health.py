"""Liveness (/health), readiness (/ready) and the model list (/v1/models)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from server.api.state import ServerState, server_state

router = APIRouter()
State = Annotated[ServerState, Depends(server_state)]


@router.get("/health")
async def health(state: State) -> JSONResponse:
    """200 while the process can serve or is still loading; 503 once the engine is dead."""
    if state.engine_dead or state.startup_error:
        return JSONResponse({"status": "unhealthy"}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(state: State) -> JSONResponse:
    """200 only when a chat request would be served now and the server is not stopping (not
    loading, in its lame-duck period, draining or dead)."""
    if not state.ready:
        return JSONResponse({"status": "not ready"}, status_code=503)
    return JSONResponse({"status": "ready", "model": state.served_model_name})


@router.get("/v1/models")
async def list_models(state: State) -> dict[str, Any]:
    model = {
        "id": state.served_model_name,
        "object": "model",
        "created": state.created,
        "owned_by": "llava-serve",
        "max_model_len": state.engine.max_model_len if state.engine else None,
    }
    return {"object": "list", "data": [model]}
