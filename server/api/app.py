"""The FastAPI application: routes, error mapping, and a lifespan that loads the model in the
background so /health answers (and Kubernetes' startup probe can wait) while weights load."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from server.api import routes_chat, routes_health
from server.api.state import ServerState
from server.chat.prompt import PromptBuilder
from server.chat.service import ChatService
from server.engine import Engine
from server.errors import ConfigError, install_error_handlers
from server.media.loader import MediaLoader
from server.model_repo import ModelSpec
from server.model_store import ensure_local
from server.settings import Settings

logger = logging.getLogger(__name__)


def create_app(settings: Settings, spec: ModelSpec, request_exit: Callable[[int], None]) -> FastAPI:
    state = ServerState(settings, spec, request_exit, created=int(time.time()))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        media = MediaLoader(settings)
        loading = asyncio.create_task(_load_model(state, media))
        try:
            yield
        finally:
            loading.cancel()
            await media.aclose()
            if state.engine is not None:
                state.engine.shutdown()

    app = FastAPI(title="llava-serve", version="0.1.0", lifespan=lifespan)
    app.state.server = state
    install_error_handlers(app)
    app.include_router(routes_health.router)
    app.include_router(routes_chat.router)
    return app


async def _load_model(state: ServerState, media: MediaLoader) -> None:
    """Builds or finds the weights, starts vLLM, then opens for requests; exits on failure."""
    spec = state.spec
    try:
        started = time.monotonic()
        local = await asyncio.to_thread(ensure_local, spec, state.settings.home)
        prompts = await asyncio.to_thread(
            PromptBuilder.for_hf_checkpoint, local.model, spec.chat_template
        )
        state.engine = await asyncio.to_thread(Engine.start, spec, local)
        state.chat = ChatService(state.engine, prompts, media, spec, state.served_model_name)
        logger.info("model %s ready in %.1f s", spec.name, time.monotonic() - started)
    except asyncio.CancelledError:
        raise
    except ConfigError as error:
        _fail(state, str(error))
    except Exception as error:  # any failure to load is fatal: report it and exit non-zero
        logger.exception("loading the model failed")
        _fail(state, f"{type(error).__name__}: {error}")


def _fail(state: ServerState, reason: str) -> None:
    logger.error("cannot serve %s: %s", state.spec.name, reason)
    state.startup_error = reason
    state.request_exit(1)
