"""Graceful shutdown: a uvicorn Server whose SIGTERM drains instead of stopping at once.

SIGTERM: /ready turns 503 at once, but for `lame_duck_s` new requests are still served: a load
balancer that checks /ready every second or two takes the replica out meanwhile, so nothing it
still sends is refused (Kubernetes' preStop sleep plays the same part). Then the drain: new chat
requests are refused (503), requests already admitted or queued finish, for at most
`drain_timeout_s`; then uvicorn shuts down as usual and the process exits 0. A second SIGTERM,
or SIGINT, stops at once (uvicorn's behaviour)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from types import FrameType

import uvicorn

from server.api.state import ServerState

logger = logging.getLogger(__name__)

# After the drain, uvicorn's own grace period for connections still open (cut requests).
SHUTDOWN_GRACE_S = 2


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ServerState):
        super().__init__(config)
        self._state = state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self._state.stopping and self._loop is not None:
            # Runs in the signal handler: set the flag now, schedule the rest on the loop. Not
            # recorded as a captured signal, so uvicorn does not re-raise it and we exit 0.
            self._state.stopping = True
            self._loop.call_soon_threadsafe(self._start_drain)
            return
        super().handle_exit(sig, frame)

    def _start_drain(self) -> None:
        self._drain = asyncio.ensure_future(self._lame_duck_then_drain())

    async def _lame_duck_then_drain(self) -> None:
        lame_duck_s = self._state.settings.lame_duck_s
        if lame_duck_s > 0:
            logger.info("SIGTERM: /ready is 503; still serving new requests for %g s", lame_duck_s)
            await asyncio.sleep(lame_duck_s)
        self._state.draining = True
        await self._drain_then_exit()

    async def _drain_then_exit(self) -> None:
        admission = self._state.admission
        timeout_s = self._state.settings.drain_timeout_s
        in_flight = (admission.running + admission.waiting) if admission else 0
        logger.info("draining %d in-flight request(s), at most %g s", in_flight, timeout_s)
        try:
            if admission is not None:
                async with asyncio.timeout(timeout_s):
                    await admission.wait_idle()
            logger.info("drained; shutting down")
        except TimeoutError:
            left = (admission.running + admission.waiting) if admission else 0
            logger.warning("drain timeout (%g s): cutting %d request(s)", timeout_s, left)
        self.should_exit = True
