"""How a chat prompt ends: vLLM's add_generation_prompt and continue_final_message."""

from __future__ import annotations

from enum import Enum
from typing import Self

from pydantic import BaseModel, model_validator


class PromptEnding(Enum):
    GENERATION_PROMPT = "generation prompt"  # the assistant's turn opened: the default
    NONE = "none"  # the messages as the template renders them, nothing opened
    CONTINUE = "continue"  # the final (assistant) message left open: the answer goes on with it


def ending_of(add_generation_prompt: bool, continue_final_message: bool) -> PromptEnding:
    """vLLM's two request fields as one ending. Both true is a ValueError, for the request
    schemas' validators (which call this) to report."""
    if continue_final_message and add_generation_prompt:
        raise ValueError(
            "continue_final_message needs add_generation_prompt set to false "
            "(the final message is continued, no new one is opened)"
        )
    if continue_final_message:
        return PromptEnding.CONTINUE
    if add_generation_prompt:
        return PromptEnding.GENERATION_PROMPT
    return PromptEnding.NONE


class PromptEndingFields(BaseModel):
    """vLLM's two fields, mixed into every request schema that renders a chat prompt (the
    schema sets the model config)."""

    add_generation_prompt: bool = True
    continue_final_message: bool = False

    @model_validator(mode="after")
    def _one_ending(self) -> Self:
        ending_of(self.add_generation_prompt, self.continue_final_message)  # both true?
        return self

    @property
    def prompt_ending(self) -> PromptEnding:
        return ending_of(self.add_generation_prompt, self.continue_final_message)
