"""vLLM's beam search, for chat and completions: `n` beams, the best first, ranked by the
model's own log-probabilities. Fields the search would not apply are refused by name, all in
one message, where vLLM's server ignores them silently."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field
from vllm.sampling_params import BeamSearchParams

from server.request_model import Float
from server.vllm_sampling import VllmSamplingFields


class BeamSearchFields(BaseModel):
    """Mixed into a request schema (which sets the model config). length_penalty weighs a
    beam's length in its score; without beam search it is ignored, as vLLM ignores it."""

    use_beam_search: bool = False
    length_penalty: Float = Field(1.0, ge=-10, le=10)


def refuse_what_beam_search_ignores(applied: dict[str, bool]) -> None:
    """For a schema's validator: `applied` maps each field the search would not honour to
    whether the request sets it to something other than its neutral value."""
    ignored = [name for name, is_applied in applied.items() if is_applied]
    if ignored:
        raise ValueError(
            f"use_beam_search does not apply {', '.join(ignored)}: the search ranks beams "
            "by the model's own log-probabilities, without sampling filters, penalties, "
            "stops or constraints (vLLM's server would ignore them silently)"
        )


class SampledRequest(Protocol):
    """What both request schemas hold of sampling: OpenAI's fields and vLLM's extras."""

    @property
    def top_p(self) -> float | None: ...
    @property
    def top_k(self) -> int | None: ...
    @property
    def stop_sequences(self) -> list[str]: ...
    @property
    def presence_penalty(self) -> float | None: ...
    @property
    def frequency_penalty(self) -> float | None: ...
    @property
    def min_p(self) -> float | None: ...
    @property
    def repetition_penalty(self) -> float | None: ...
    @property
    def logit_bias(self) -> dict[str, float] | None: ...
    @property
    def min_tokens(self) -> int: ...
    @property
    def stop_token_ids(self) -> list[int] | None: ...
    @property
    def bad_words(self) -> list[str] | None: ...
    @property
    def allowed_token_ids(self) -> list[int] | None: ...


def sampling_fields_applied(request: SampledRequest) -> dict[str, bool]:
    """Which sampling fields beam search ignores a request sets to something other than their
    neutral value: OpenAI's and the shared vLLM extras."""
    return {
        "top_p": request.top_p not in (None, 1.0),
        "top_k": request.top_k not in (None, 0, -1),
        "stop": bool(request.stop_sequences),
        "presence_penalty": bool(request.presence_penalty),
        "frequency_penalty": bool(request.frequency_penalty),
        "min_p": request.min_p not in (None, 0.0),
        "repetition_penalty": request.repetition_penalty not in (None, 1.0),
        "logit_bias": bool(request.logit_bias),
        "min_tokens": request.min_tokens > 0,
        "stop_token_ids": bool(request.stop_token_ids),
        "bad_words": bool(request.bad_words),
        "allowed_token_ids": request.allowed_token_ids is not None,
    }


def beam_search_params(
    fields: VllmSamplingFields,
    length_penalty: float,
    beams: int,
    max_tokens: int,
    temperature: float,
) -> BeamSearchParams:
    """The search's parameters, as vLLM's server builds them."""
    return BeamSearchParams(
        beam_width=beams,
        max_tokens=max_tokens,
        ignore_eos=fields.ignore_eos,
        temperature=temperature,
        length_penalty=length_penalty,
        include_stop_str_in_output=fields.include_stop_str_in_output,
        skip_special_tokens=fields.skip_special_tokens,
    )
