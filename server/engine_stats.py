"""A vLLM stat logger that copies the scheduler's stats (KV-cache usage, running and waiting
sequences) into our Prometheus gauges; vLLM calls `record` after every engine step."""

from __future__ import annotations

from typing import Any

from vllm.v1.metrics.loggers import StatLoggerBase

from server import metrics


class SchedulerStatsRecorder(StatLoggerBase):  # type: ignore[misc]  # vLLM is untyped to mypy
    """Per-engine stat logger (vLLM's `StatLoggerFactory` protocol: `cls(vllm_config, index)`)."""

    def __init__(self, vllm_config: Any, engine_index: int = 0):
        self.engine_index = engine_index

    def record(
        self,
        scheduler_stats: Any,
        iteration_stats: Any,
        mm_cache_stats: Any = None,
        engine_idx: int = 0,
    ) -> None:
        if scheduler_stats is None:
            return
        metrics.ENGINE_KV_CACHE_USAGE.set(scheduler_stats.kv_cache_usage)
        metrics.ENGINE_RUNNING.set(scheduler_stats.num_running_reqs)
        metrics.ENGINE_WAITING.set(scheduler_stats.num_waiting_reqs)

    def log_engine_initialized(self) -> None:
        pass
