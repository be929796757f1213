"""GET /metrics: Prometheus exposition of our collectors and vLLM's (one default registry)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from server import metrics
from server.api.state import ServerState

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(REGISTRY), media_type=content_type)


def sample_engine_at_scrape(state: ServerState) -> None:
    """Values read at scrape time rather than pushed (the engine's live request count), by
    whichever listener serves the scrape: this route or the metrics port."""

    def alive() -> bool:
        return state.engine is not None and not state.engine.is_dead

    def unfinished() -> float:
        return state.engine.unfinished_requests if state.engine is not None and alive() else 0

    metrics.ENGINE_ALIVE.set_function(lambda: 1 if alive() else 0)
    metrics.ENGINE_UNFINISHED.set_function(unfinished)
