"""Prompts are rendered and tokenized in a few threads, never on the event loop, which must keep
answering other requests (and /health) meanwhile.

Each thread works with its own copy of the prompt builder: a tokenizer is not safe to share
across threads (transformers sets whether typed special tokens are split as state on the shared
Rust tokenizer before each call, so one request's literal mode would leak into another's)."""

from __future__ import annotations

import asyncio
import copy
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from server.chat.schemas import ChatMessage
from server.prompts.base import Prompt, PromptBuilder
from server.prompts.ending import PromptEnding

T = TypeVar("T")


class PromptWorkers:
    def __init__(self, builder: PromptBuilder, workers: int):
        # One builder per thread: a task takes a free one and gives it back; there are as many
        # builders as threads, so a running task always finds one.
        self._free: queue.SimpleQueue[PromptBuilder] = queue.SimpleQueue()
        for _ in range(workers):
            self._free.put(copy.deepcopy(builder))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="prompt")

    async def build(self, messages: list[ChatMessage], ending: PromptEnding) -> Prompt:
        return await self.run(lambda builder: builder.build(messages, ending))

    async def run(self, task: Callable[[PromptBuilder], T]) -> T:
        """Any tokenizer work (a completions prompt, /tokenize) on a builder of its own."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, task)

    def _run(self, task: Callable[[PromptBuilder], T]) -> T:
        builder = self._free.get()
        try:
            return task(builder)
        finally:
            self._free.put(builder)
