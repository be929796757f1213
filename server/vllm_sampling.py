"""The sampling fields chat and completions share beyond OpenAI's core: OpenAI's logit_bias
and vLLM's own extras, as `vllm serve` takes them, and the SamplingParams arguments they
become."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from server.errors import BadRequestError
from server.request_model import Float, Int

# Bounds on the work one request can ask for (README "Security").
MAX_TOKEN_LIST = 64  # stop_token_ids, bad_words
MAX_MIN_TOKENS = 1_000_000


class VllmSamplingFields(BaseModel):
    """Mixed into a request schema (which sets the model config: unknown fields refused)."""

    logit_bias: dict[str, Float] | None = None
    ignore_eos: bool = False
    min_p: Float | None = Field(None, ge=0, le=1)
    repetition_penalty: Float | None = Field(None, gt=0, le=10)
    min_tokens: Int = Field(0, ge=0, le=MAX_MIN_TOKENS)
    stop_token_ids: list[Int] | None = Field(None, max_length=MAX_TOKEN_LIST)
    skip_special_tokens: bool = True
    spaces_between_special_tokens: bool = True
    include_stop_str_in_output: bool = False
    bad_words: list[str] | None = Field(None, max_length=MAX_TOKEN_LIST)
    allowed_token_ids: list[int] | None = None


def sampling_extras(fields: VllmSamplingFields, max_tokens: int) -> dict[str, Any]:
    """SamplingParams arguments: each field passed on as `vllm serve` passes it, checked
    against the request's token budget (max_tokens, asked or what the context leaves)."""
    if fields.min_tokens > max_tokens:
        raise BadRequestError(
            f"min_tokens is {fields.min_tokens}; this request generates at most {max_tokens} "
            "tokens (its max_tokens, or what the context and the server's cap leave).",
            param="min_tokens",
        )
    extras: dict[str, Any] = {
        "logit_bias": _logit_bias(fields.logit_bias),
        "ignore_eos": fields.ignore_eos,
        "min_tokens": fields.min_tokens,
        "skip_special_tokens": fields.skip_special_tokens,
        "spaces_between_special_tokens": fields.spaces_between_special_tokens,
        "include_stop_str_in_output": fields.include_stop_str_in_output,
    }
    if fields.min_p is not None:
        extras["min_p"] = fields.min_p
    if fields.repetition_penalty is not None:
        extras["repetition_penalty"] = fields.repetition_penalty
    if fields.stop_token_ids:
        extras["stop_token_ids"] = fields.stop_token_ids
    if fields.bad_words:
        extras["bad_words"] = fields.bad_words
    if fields.allowed_token_ids:
        extras["allowed_token_ids"] = fields.allowed_token_ids
    return extras


def _logit_bias(bias: dict[str, float] | None) -> dict[int, float] | None:
    """OpenAI's token-id strings -> ints; vLLM checks the ids against the vocabulary."""
    if not bias:
        return None
    try:
        parsed = {int(token): float(value) for token, value in bias.items()}
    except ValueError as error:
        raise BadRequestError(
            "logit_bias maps token ids (integers, as strings) to biases.", param="logit_bias"
        ) from error
    if any(not -100 <= value <= 100 for value in parsed.values()):
        raise BadRequestError("logit_bias values must be from -100 to 100.", param="logit_bias")
    return parsed
