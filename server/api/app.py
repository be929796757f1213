"""The FastAPI application: routes, error mapping, and a lifespan that loads the model in the
background so /health answers (and Kubernetes' startup probe can wait) while weights load."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from vllm.utils.gc_utils import freeze_gc_heap

from server.admission import Admission
from server.api import (
    routes_chat,
    routes_completions,
    routes_health,
    routes_metrics,
    routes_responses,
    routes_web,
)
from server.api.access_log import AccessLogMiddleware
from server.api.auth import ApiKeyMiddleware, load_api_keys
from server.api.lifecycle import ChatLifecycleMiddleware
from server.api.limits import BodySizeLimitMiddleware
from server.api.state import ServerState
from server.chat.prompt import PromptBuilder
from server.chat.service import ChatService
from server.engine import Engine
from server.errors import ConfigError, install_error_handlers
from server.media.loader import MediaLoader
from server.model_repo import ModelSpec
from server.model_store import LocalModel, ensure_local, vision_input_size
from server.settings import Settings

logger = logging.getLogger(__name__)

# After engine death, how long /health keeps answering 503 before the process exits.
ENGINE_DEATH_HOLD_S = 2.0


def create_app(settings: Settings, spec: ModelSpec, request_exit: Callable[[int], None]) -> FastAPI:
    state = ServerState(settings, spec, request_exit, created=int(time.time()))
    admission = Admission.from_settings(settings)
    state.admission = admission

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        media = MediaLoader(settings)
        loading = asyncio.create_task(_load_model(state, media))
        watchdog = asyncio.create_task(_watch_engine(state, loading))
        try:
            yield
        finally:
            watchdog.cancel()
            loading.cancel()
            await media.aclose()
            if state.engine is not None:
                state.engine.shutdown()

    app = FastAPI(title="llava-serve", version="0.1.0", lifespan=lifespan)
    app.state.server = state
    install_error_handlers(app)
    # Added last = outermost: the access log sees every answer, the lifecycle's refusals too.
    app.add_middleware(ChatLifecycleMiddleware, state=state, admission=admission)
    _install_security(app, settings)  # outside admission: a request without a key takes no slot
    app.add_middleware(AccessLogMiddleware)
    app.include_router(routes_health.router)
    app.include_router(routes_metrics.router)
    app.include_router(routes_chat.router)
    app.include_router(routes_completions.router)
    app.include_router(routes_responses.router)
    if settings.playground:
        app.include_router(routes_web.router)
    return app


def _install_security(app: FastAPI, settings: Settings) -> None:
    """Body cap innermost, then API keys, then CORS (outside the key check, so preflights and
    401s carry CORS headers). CORS is off unless origins are configured."""
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    keys = load_api_keys(settings)  # a missing or empty key file fails start-up here
    if keys:
        page = routes_web.public_paths() if settings.playground else frozenset()
        app.add_middleware(
            ApiKeyMiddleware,
            keys=keys,
            metrics_requires_key=settings.metrics_requires_key,
            open_paths=page,
        )
    if settings.cors_allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allowed_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["X-Request-Id"],
        )


async def _load_model(state: ServerState, media: MediaLoader) -> None:
    """Builds or finds the weights, starts vLLM, then opens for requests; exits on failure."""
    spec = state.spec
    try:
        started = time.monotonic()
        local = await asyncio.to_thread(ensure_local, spec, state.settings.home)
        prompts = await asyncio.to_thread(_prompt_builder, spec, local)
        state.engine = await asyncio.to_thread(Engine.start, spec, local)
        await state.engine.warm_up()
        draft_edge = None
        if state.settings.media_decode_mode == "fast":
            draft_edge = vision_input_size(local)
        # Before opening: the start-up heap (torch, transformers, vLLM: ~670k objects) moves to
        # a generation the collector never scans again. Otherwise each full collection under
        # load stalls the event loop for ~0.4 s here, and streams arrive in one burst. vLLM's
        # own server does the same.
        freeze_gc_heap()
        state.chat = ChatService(
            state.engine, prompts, media, spec, state.served_model_name, draft_edge
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


def _prompt_builder(spec: ModelSpec, local: LocalModel) -> PromptBuilder:
    """The checkpoint's Jinja template (hf), or the original code's conversation (original)."""
    if spec.format == "original":
        from server.llava.prompt import OriginalPromptBuilder

        assert local.vision_tower is not None and spec.conversation is not None
        return OriginalPromptBuilder.for_original_checkpoint(
            local.model,
            local.vision_tower,
            spec.conversation,
            images_after_text=spec.image_placement == "after_text",
        )
    return PromptBuilder.for_hf_checkpoint(local.model, spec.chat_template)


def _fail(state: ServerState, reason: str) -> None:
    logger.error("cannot serve %s: %s", state.spec.name, reason)
    state.startup_error = reason
    state.request_exit(1)
