"""The FastAPI application: routes, error mapping, and a lifespan that loads the model in the
background so /health answers (and Kubernetes' startup probe can wait) while weights load."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from vllm.utils.gc_utils import freeze_gc_heap

from server.admission import Admission
from server.api import (
    routes_chat,
    routes_completions,
    routes_health,
    routes_metrics,
    routes_responses,
    routes_tokenize,
    routes_web,
)
from server.api.access_log import AccessLogMiddleware
from server.api.auth import ApiKeyMiddleware, load_api_keys
from server.api.lifecycle import ChatLifecycleMiddleware
from server.api.limits import BodyReaderMiddleware
from server.api.state import ServerState
from server.chat.service import ChatService
from server.errors import ConfigError, install_error_handlers
from server.media.loader import MediaLoader
from server.model_loader import load_model
from server.model_repo import ModelSpec
from server.settings import Settings

logger = logging.getLogger(__name__)

# After engine death, how long /health keeps answering 503 before the process exits.
ENGINE_DEATH_HOLD_S = 2.0


def create_app(settings: Settings, spec: ModelSpec, request_exit: Callable[[int], None]) -> FastAPI:
    state = ServerState(settings, spec, request_exit, created=int(time.time()))
    admission = Admission.from_settings(settings)
    state.admission = admission
    routes_metrics.sample_engine_at_scrape(state)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(_open(state))
        watchdog = asyncio.create_task(_watch_engine(state, loading))
        try:
            yield
        finally:
            watchdog.cancel()
            loading.cancel()
            if state.media is not None:
                await state.media.aclose()
            if state.engine is not None:
                state.engine.shutdown()

    # No trailing-slash redirects: Starlette builds their Location from the Host header.
    app = FastAPI(
        title="llava-serve",
        version="0.1.0",
        lifespan=lifespan,
        middleware=_middleware(settings, state, admission),
        redirect_slashes=False,
    )
    app.state.server = state
    install_error_handlers(app)
    app.include_router(routes_health.router)
    app.include_router(routes_metrics.router)
    app.include_router(routes_chat.router)
    app.include_router(routes_completions.router)
    app.include_router(routes_responses.router)
    app.include_router(routes_tokenize.router)
    if settings.playground:
        app.include_router(routes_web.router)
    return app


def _middleware(settings: Settings, state: ServerState, admission: Admission) -> list[Middleware]:
    """The middleware stack, outermost first."""
    keys = load_api_keys(settings)  # a missing or empty key file fails start-up here
    # Outermost: the access log sees every answer, the inner layers' refusals too.
    stack = [Middleware(AccessLogMiddleware)]
    if settings.cors_allowed_origins:  # outside the key check: preflights and 401s carry CORS
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_allowed_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
                expose_headers=["X-Request-Id"],
            )
        )
    if keys:  # outside admission: a request without a key takes no slot
        page = routes_web.public_paths() if settings.playground else frozenset()
        stack.append(
            Middleware(
                ApiKeyMiddleware,
                keys=keys,
                metrics_requires_key=settings.metrics_requires_key,
                open_paths=page,
            )
        )
    # The body is read before admission: a slow upload takes no slot; after the key check: no
    # body is read for a request without a key.
    stack.append(
        Middleware(
            BodyReaderMiddleware,
            max_bytes=settings.max_request_bytes,
            read_timeout_s=settings.body_read_timeout_s,
        )
    )
    stack.append(Middleware(ChatLifecycleMiddleware, state=state, admission=admission))
    return stack


async def _open(state: ServerState) -> None:
    """Loads the model, then opens for requests; exits on failure."""
    spec = state.spec
    try:
        started = time.monotonic()
        model = await load_model(spec, state.settings.home)
        state.engine = model.engine
        state.media = MediaLoader(state.settings, model.tower_input_size)
        # Before opening: the start-up heap (torch, transformers, vLLM) moves to a generation
        # the collector never scans again, so full collections under load do not stall the
        # event loop (docs/internals.md). vLLM's own server does the same.
        freeze_gc_heap()
        state.chat = ChatService(
            model.engine, model.prompts, state.media, spec, state.served_model_name
        )
        logger.info("model %s ready in %.1f s", spec.name, time.monotonic() - started)
    except asyncio.CancelledError:
        raise
    except ConfigError as error:
        _fail(state, str(error))
    except Exception as error:  # any failure to load is fatal: report it and exit non-zero
        logger.exception("loading the model failed")
        _fail(state, f"{type(error).__name__}: {error}")


async def _watch_engine(state: ServerState, loading: asyncio.Task[None]) -> None:
    """Once loaded, waits for the engine to die; then /health is already 503, and after a short
    hold (so probes and load balancers see it) the process exits non-zero to be restarted."""
    await asyncio.wait({loading})
    if state.engine is None:
        return
    await state.engine.wait_until_dead()
    logger.error("the vLLM engine died; /health answers 503 and the server exits with status 1")
    await asyncio.sleep(ENGINE_DEATH_HOLD_S)
    state.request_exit(1)


def _fail(state: ServerState, reason: str) -> None:
    logger.error("cannot serve %s: %s", state.spec.name, reason)
    state.startup_error = reason
    state.request_exit(1)
