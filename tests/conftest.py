"""Fixtures only: the helpers live in tests/support/ (servers.py, pool.py, inprocess.py); the
session's hooks and its server pool (the fixture server_pool) in tests/support/plugin.py."""

from __future__ import annotations

import functools
import http.server
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import openai
import pytest

from server.model_repo import resolve_model
from server.model_store import ensure_local
from server.settings import REPO_MODEL_DIR
from tests.support.http_host import http_host
from tests.support.pool import TINY_MODEL, ServerPool
from tests.support.servers import RemoteServer

pytest_plugins = ["tests.support.plugin"]


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("llava-serve-home")


@pytest.fixture(scope="session")
def tiny_checkpoint(home: Path) -> Path:
    return ensure_local(resolve_model(TINY_MODEL, REPO_MODEL_DIR), home).model


# --- the profiles' shared servers (tests/support/pool.py PROFILES) -----------------------------


@pytest.fixture(scope="session")
def tiny_server(server_pool: ServerPool) -> RemoteServer:
    """tiny-llava-hf; image URLs may reach 127.0.0.1; exact image decoding."""
    return server_pool.get("tiny")


@pytest.fixture(scope="session")
def ops_server(server_pool: ServerPool) -> RemoteServer:
    """tiny-llava-hf with small admission limits and default media settings."""
    return server_pool.get("ops")


@pytest.fixture(scope="session")
def deadline_server(server_pool: ServerPool) -> RemoteServer:
    """tiny-llava-hf with a request deadline shorter than a long request."""
    return server_pool.get("deadline")


@pytest.fixture(scope="session")
def long_server(server_pool: ServerPool) -> RemoteServer:
    """tiny-llava-hf with a 100,000-token context (tests/models/tiny-llava-hf-long)."""
    return server_pool.get("long")


@pytest.fixture(scope="session")
def demo_server(server_pool: ServerPool) -> RemoteServer:
    """llava-demo, the default model, with default settings."""
    return server_pool.get("demo")


@pytest.fixture
def taken_server(request: pytest.FixtureRequest, server_pool: ServerPool) -> Iterator[RemoteServer]:
    """For a test marked takes_server(profile): a server of that profile no other test uses."""
    marker = request.node.get_closest_marker("takes_server")
    if marker is None:
        pytest.fail("taken_server needs @pytest.mark.takes_server(profile)")
    with server_pool.take(str(marker.args[0])) as server:
        yield server


@pytest.fixture(scope="session")
def launch_own(server_pool: ServerPool) -> Callable[[Mapping[str, str]], RemoteServer]:
    """launch_own(settings) -> a server with its own settings, to use as a context manager."""
    return server_pool.launch_own


# --- the names the tests used before profiles: the tiny profile's server ------------------------


@pytest.fixture(scope="session")
def shared_server(tiny_server: RemoteServer) -> tuple[str, object]:
    """(base URL, its process)."""
    return tiny_server.url, tiny_server.process


@pytest.fixture(scope="session")
def base_url(tiny_server: RemoteServer) -> str:
    return tiny_server.url


@pytest.fixture(scope="session")
def base_server_pid(tiny_server: RemoteServer) -> int:
    return tiny_server.pid


@pytest.fixture(scope="session")
def client(tiny_server: RemoteServer) -> openai.OpenAI:
    return tiny_server.client()


@pytest.fixture(scope="session")
def model_id() -> str:
    return TINY_MODEL


# --- a local static file server (image URLs) ----------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def image_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, folder whose files it serves)."""
    folder = tmp_path_factory.mktemp("images")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    with http_host(handler) as url:
        yield url, folder
