"""The server's state, set up by the lifespan; routes reach it through FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from server.admission import Admission
from server.chat.service import ChatService
from server.engine import Engine
from server.errors import NotReadyError
from server.media.loader import MediaLoader
from server.model_repo import ModelSpec
from server.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    spec: ModelSpec
    request_exit: Callable[[int], None]
    engine: Engine | None = None
    media: MediaLoader | None = None
    chat: ChatService | None = None
    startup_error: str | None = None
    # SIGTERM seen: /ready answers 503 from then on (load balancers stop sending), while new
    # requests are still served until the lame-duck period ends and `draining` starts.
    stopping: bool = False
    # New generation requests refused; admitted ones finish (server/drain.py).
    draining: bool = False
    admission: Admission | None = None
    created: int = field(default=0)

    @property
    def served_model_name(self) -> str:
        return self.settings.served_model_name or self.spec.name

    @property
    def ready(self) -> bool:
        """What /ready reports: accepting, and not about to stop."""
        return self.accepting and not self.stopping

    @property
    def accepting(self) -> bool:
        """Whether a new generation request is admitted (still true in the lame-duck period)."""
        return self.chat is not None and not self.draining and not self.engine_dead

    @property
    def engine_dead(self) -> bool:
        return self.engine is not None and self.engine.is_dead


# FastAPI runs a plain `def` dependency in its thread pool: a thread hand-off per request,
# which under load contends for the GIL with the event loop. These do no blocking work, so
# they are `async def` and run on the loop.


async def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


async def chat_service(request: Request) -> ChatService:
    state: ServerState = request.app.state.server
    # While draining, requests already admitted (the lifecycle middleware refuses new ones)
    # still reach the service: that is what the drain waits for.
    if state.chat is None or not (state.accepting or state.draining):
        raise NotReadyError(not_ready_reason(state))
    return state.chat


def not_ready_reason(state: ServerState) -> str:
    if state.startup_error:
        return f"The model failed to load: {state.startup_error}"
    if state.engine_dead:
        return "The inference engine has stopped."
    if state.draining:
        return "The server is shutting down."
    return "The model is still loading; retry shortly."
