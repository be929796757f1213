"""How a chat prompt ends: vLLM's add_generation_prompt and continue_final_message."""

from __future__ import annotations

from enum import Enum


class PromptEnding(Enum):
    GENERATION_PROMPT = "generation prompt"  # the assistant's turn opened: the default
    NONE = "none"  # the messages as the template renders them, nothing opened
    CONTINUE = "continue"  # the final (assistant) message left open: the answer goes on with it
