"""The `vllm.general_plugins` entry point: registers the original LLaVA architecture.

vLLM calls register() in the API process, the engine core and every worker; it must be
idempotent and cheap, so the model class is registered by name and imported lazily.
"""

from __future__ import annotations

from vllm import ModelRegistry
from vllm.transformers_utils.config import (
    get_config_parser,
    register_config_parser,
)

from server.llava.config import ARCHITECTURE, CONFIG_FORMAT, OriginalLlavaConfigParser

MODEL_CLASS = "server.llava.model:LlavaOriginalForCausalLM"


def register() -> None:
    if ARCHITECTURE not in ModelRegistry.get_supported_archs():
        ModelRegistry.register_model(ARCHITECTURE, MODEL_CLASS)
    try:
        get_config_parser(CONFIG_FORMAT)
    except ValueError:
        register_config_parser(CONFIG_FORMAT)(OriginalLlavaConfigParser)
