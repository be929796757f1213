"""Admission control: at most `max_running` generation requests at once, at most `max_waiting`
queued for a slot in arrival order; past both, an immediate 429 (OverloadedError) with
Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from server import metrics
from server.errors import OverloadedError
from server.settings import Settings


class Admission:
    """Slots are handed from a finishing request straight to the oldest waiter (FIFO, no
    barging), so a queued request cannot starve behind later arrivals."""

    def __init__(self, max_running: int, max_waiting: int, retry_after_s: int):
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self._running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        return cls(
            settings.max_running_requests,
            settings.max_waiting_requests,
            settings.overload_retry_after_s,
        )

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        """Takes a slot, waiting in the queue if needed; OverloadedError when the queue is full.
        A caller cancelled while waiting (deadline, disconnect) leaves the queue cleanly."""
        if self._running < self.max_running and not self._waiters:
            self._take_slot()
            metrics.QUEUE_TIME.observe(0.0)
            return
        if len(self._waiters) >= self.max_waiting:
            raise OverloadedError(
                f"The server is at capacity ({self.max_running} running, "
                f"{self.max_waiting} queued); retry after {self.retry_after_s} s.",
                retry_after_s=self.retry_after_s,
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._update_gauges()
        queued_at = time.monotonic()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
                self._update_gauges()
            raise
        metrics.QUEUE_TIME.observe(time.monotonic() - queued_at)

    def release(self) -> None:
        """Gives the slot to the oldest live waiter, or frees it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands: running stays the same
                self._update_gauges()
                return
        self._running -= 1
        if self._running == 0:
            self._idle.set()
        self._update_gauges()

    async def wait_idle(self) -> None:
        """Returns once no request is running or queued (used by the SIGTERM drain)."""
        await self._idle.wait()

    def _take_slot(self) -> None:
        self._running += 1
        self._idle.clear()
        self._update_gauges()

    def _update_gauges(self) -> None:
        metrics.REQUESTS_RUNNING.set(self._running)
        metrics.REQUESTS_WAITING.set(len(self._waiters))
