"""Runs the HTTP server (uvicorn with uvloop and httptools) around the app; returns an exit code."""

from __future__ import annotations

import logging

import uvicorn
from starlette.types import ASGIApp

from server.api.app import create_app
from server.api.http_protocol import HeaderCappedHttpToolsProtocol
from server.drain import SHUTDOWN_GRACE_S, DrainingServer
from server.logging_setup import configure_logging
from server.metrics_listener import start_metrics_listener
from server.model_repo import resolve_model
from server.settings import Settings

logger = logging.getLogger("llava_serve")


def uvicorn_config(settings: Settings, app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=HeaderCappedHttpToolsProtocol,
        log_level=settings.log_level,
        log_config=None,  # logging is ours (configure_logging): JSON lines with request ids
        access_log=False,  # replaced by server/api/access_log.py (status, latency, request id)
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: any local process could
        # then pose as any client. Only the configured proxies are believed.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
    )


def serve(settings: Settings) -> int:
    configure_logging(settings.log_level, settings.log_format)
    spec = resolve_model(settings.model, settings.model_repo)  # a bad model.yaml fails here, fast
    exit_code = 0
    server: uvicorn.Server | None = None

    def request_exit(code: int) -> None:
        nonlocal exit_code
        exit_code = code
        if server is not None:
            server.should_exit = True

    app = create_app(settings, spec, request_exit)
    if settings.metrics_port is not None:
        start_metrics_listener(settings.host, settings.metrics_port)
    config = uvicorn_config(settings, app)
    server = DrainingServer(config, app.state.server)
    url = f"http://{settings.host}:{settings.port}"
    logger.info(
        "serving %s at %s (OpenAI base URL %s/v1; /ready turns 200 once loaded)",
        spec.name,
        url,
        url,
    )
    if settings.playground:
        logger.info("web playground: open %s/ in a browser", url)
    server.run()
    return exit_code
