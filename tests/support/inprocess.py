"""The app in this process, without its engine: for what never reaches vLLM (API keys, body
limits, request ids, CORS, error envelopes of unknown routes, the playground's files).

`create_app` builds the routes and the middleware stack; its lifespan (which loads the model)
does not run, so the server stays "loading": /health answers, /ready and chat requests get 503.
Requests go through httpx's ASGI transport, or, where the HTTP parser itself matters (request
lines exactly as written), through uvicorn serving the app on a thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import uvicorn
from fastapi import FastAPI

from server.api.app import create_app
from server.model_repo import resolve_model
from server.settings import REPO_MODEL_DIR, Settings
from tests.support.pool import TINY_MODEL
from tests.support.servers import free_port

BASE_URL = "http://testserver"
THREAD_START_TIMEOUT_S = 60.0


def app_without_engine(**settings: Any) -> FastAPI:
    """The app for the tiny model's entry with these settings; its lifespan never runs."""
    spec = resolve_model(TINY_MODEL, REPO_MODEL_DIR)
    return create_app(Settings(model=TINY_MODEL, **settings), spec, lambda code: None)


@contextlib.asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def request(app: FastAPI, method: str, path: str, **options: Any) -> httpx.Response:
    """One request to the app, read in full."""

    async def send() -> httpx.Response:
        async with asgi_client(app) as client:
            return await client.request(method, path, **options)

    return asyncio.run(send())


def sdk(app: FastAPI, api_key: str = "unused") -> openai.AsyncOpenAI:
    """The OpenAI SDK (async: the ASGI transport is async) talking to the app."""
    http_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    return openai.AsyncOpenAI(
        base_url=f"{BASE_URL}/v1",
        api_key=api_key,
        max_retries=0,
        http_client=http_client,  # type: ignore[arg-type]  # the SDK takes httpx clients too
    )


@contextlib.contextmanager
def served_on_a_thread(app: FastAPI) -> Iterator[str]:
    """uvicorn (httptools, as in production) serving the app without its lifespan; the URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + THREAD_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start on its thread")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=THREAD_START_TIMEOUT_S)
