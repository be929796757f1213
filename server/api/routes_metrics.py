"""GET /metrics: Prometheus exposition of our collectors and vLLM's (one default registry)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from server import metrics
from server.api.state import ServerState, server_state

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(
    request: Request, state: Annotated[ServerState, Depends(server_state)]
) -> Response:
    _sample_engine(state)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(REGISTRY), media_type=content_type)


def _sample_engine(state: ServerState) -> None:
    """Values read at scrape time rather than pushed: the engine's live request count."""
    engine = state.engine
    alive = engine is not None and not engine.is_dead
    metrics.ENGINE_ALIVE.set(1 if alive else 0)
    if engine is not None and alive:
        metrics.ENGINE_UNFINISHED.set(engine.unfinished_requests)
