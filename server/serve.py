"""Runs the HTTP server (uvicorn with uvloop and httptools) around the app; returns an exit code."""

from __future__ import annotations

import logging

import uvicorn

from server.api.app import create_app
from server.model_repo import resolve_model
from server.settings import Settings

logger = logging.getLogger("llava_serve")


def serve(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    spec = resolve_model(settings.model, settings.model_repo)  # a bad model.yaml fails here, fast
    exit_code = 0
    server: uvicorn.Server | None = None

    def request_exit(code: int) -> None:
        nonlocal exit_code
        exit_code = code
        if server is not None:
            server.should_exit = True

    app = create_app(settings, spec, request_exit)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
    )
    server = uvicorn.Server(config)
    url = f"http://{settings.host}:{settings.port}"
    logger.info(
        "serving %s at %s (OpenAI base URL %s/v1; /ready turns 200 once loaded)",
        spec.name,
        url,
        url,
    )
    server.run()
    return exit_code
