"""Assembles a servable model from its spec: the weights on disk, the prompt builder its format
calls for, and a started vLLM engine. The one place that knows what each format needs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vllm.config import StructuredOutputsConfig
from vllm.engine.arg_utils import AsyncEngineArgs

from server.engine import Engine
from server.model_repo import ModelSpec
from server.model_store import LocalModel, ensure_local, vision_input_size
from server.prompts.base import PromptBuilder


@dataclass(frozen=True)
class LoadedModel:
    spec: ModelSpec
    local: LocalModel
    engine: Engine
    prompts: PromptBuilder
    tower_input_size: int  # side of the square image the vision tower takes (336 for LLaVA-1.5)


async def load_model(spec: ModelSpec, home: Path) -> LoadedModel:
    """Builds or finds the weights, then starts and warms up vLLM (minutes for big models); the
    blocking steps run in threads so the event loop keeps answering probes meanwhile."""
    local = await asyncio.to_thread(ensure_local, spec, home)
    prompts = await asyncio.to_thread(prompt_builder, spec, local)
    engine = await asyncio.to_thread(Engine.start, engine_args(spec, local))
    try:
        await engine.warm_up()
    except BaseException:
        engine.shutdown()
        raise
    return LoadedModel(spec, local, engine, prompts, vision_input_size(local))


def prompt_builder(spec: ModelSpec, local: LocalModel) -> PromptBuilder:
    """The checkpoint's Jinja template (hf), or the original code's conversation (original)."""
    if spec.format == "original":
        from server.prompts.original import OriginalPromptBuilder

        assert local.vision_tower is not None and spec.conversation is not None
        return OriginalPromptBuilder.for_original_checkpoint(
            local.model,
            local.vision_tower,
            spec.conversation,
            spec.image_placement,
        )
    from server.prompts.hf import HfPromptBuilder

    return HfPromptBuilder.for_hf_checkpoint(local.model, spec.chat_template)


def engine_args(spec: ModelSpec, local: LocalModel) -> AsyncEngineArgs:
    """model.yaml's engine section -> vLLM's arguments (the same ones vLLM's server takes)."""
    engine = spec.engine
    optional: dict[str, Any] = {}
    if engine.gpu_memory_utilization is not None:
        optional["gpu_memory_utilization"] = engine.gpu_memory_utilization
    if spec.format == "original":
        # Parsed by server/llava's config parser; the tower comes from model.yaml, not the hub.
        optional["config_format"] = "llava_original"
        optional["hf_overrides"] = {"mm_vision_tower": str(local.vision_tower)}
    return AsyncEngineArgs(
        model=str(local.model),
        served_model_name=[spec.name],
        dtype=engine.dtype,
        max_model_len=engine.max_model_len,
        max_num_seqs=engine.max_num_seqs,
        limit_mm_per_prompt=dict(engine.limit_mm_per_prompt),
        enforce_eager=engine.enforce_eager,
        tensor_parallel_size=engine.tensor_parallel_size,
        seed=engine.seed,
        structured_outputs_config=structured_outputs_config(engine.structured_outputs_backend),
        **optional,
    )


def structured_outputs_settings(backend: str) -> dict[str, Any]:
    """As `vllm serve --structured-outputs-config` takes them: model.yaml's backend, and compact
    JSON, as OpenAI's, for every model. vLLM applies whitespace per engine, not per request
    (and only with xgrammar or guidance named); free whitespace between JSON tokens lets a weak
    model wander."""
    return {"backend": backend, "disable_any_whitespace": True}


def structured_outputs_config(backend: str) -> StructuredOutputsConfig:
    return StructuredOutputsConfig(**structured_outputs_settings(backend))
