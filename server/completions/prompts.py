"""A completions prompt (text or token ids) -> checked engine token ids, and its echo text.

Text is tokenized as vLLM's own completions endpoint does (the tokenizer's special tokens
recognised, BOS added); token ids are taken as they are, as evaluation harnesses send them.
Completions carry no images, so the image token is refused in either form."""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from server.errors import BadRequestError


@dataclass(frozen=True)
class TextPrompt:
    token_ids: list[int]
    text: str  # what echo sends back


def text_prompts(
    prompts: list[str] | list[list[int]],
    tokenizer: PreTrainedTokenizerBase,
    image_token_id: int,
    keep_last: int | None = None,
) -> list[TextPrompt]:
    """The checked prompts; with keep_last, each cut to its last keep_last tokens (echo then
    sends back the text of what was kept, as vLLM's server does)."""
    built = [_one(prompt, tokenizer) for prompt in prompts]
    if keep_last is not None:
        built = [_last_tokens(prompt, keep_last, tokenizer) for prompt in built]
    vocabulary = len(tokenizer)
    for index, prompt in enumerate(built):
        _check_ids(prompt.token_ids, vocabulary, image_token_id, prompt_param(index, len(built)))
    return built


def prompt_param(index: int, prompts: int) -> str:
    """Where an error points: `prompt`, or `prompt.3` in a batch."""
    return "prompt" if prompts == 1 else f"prompt.{index}"


def _one(prompt: str | list[int], tokenizer: PreTrainedTokenizerBase) -> TextPrompt:
    if isinstance(prompt, str):
        token_ids: list[int] = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        return TextPrompt(token_ids, prompt)
    return TextPrompt(list(prompt), _decode(prompt, tokenizer))


def _last_tokens(
    prompt: TextPrompt, keep_last: int, tokenizer: PreTrainedTokenizerBase
) -> TextPrompt:
    if len(prompt.token_ids) <= keep_last:
        return prompt
    kept = prompt.token_ids[len(prompt.token_ids) - keep_last :]
    return TextPrompt(kept, _decode(kept, tokenizer))


def _decode(token_ids: list[int], tokenizer: PreTrainedTokenizerBase) -> str:
    if any(not 0 <= token_id < len(tokenizer) for token_id in token_ids):
        return ""  # refused just after, by _check_ids
    return str(tokenizer.decode(token_ids))


def _check_ids(token_ids: list[int], vocabulary: int, image_token_id: int, param: str) -> None:
    outside = [token_id for token_id in token_ids if not 0 <= token_id < vocabulary]
    if outside:
        raise BadRequestError(
            f"Token id {outside[0]} is outside this model's vocabulary (0 to {vocabulary - 1}).",
            param=param,
        )
    if image_token_id in token_ids:
        raise BadRequestError(
            f"The prompt contains the image token (id {image_token_id}), which stands for an "
            "image: completions take text only; send images to /v1/chat/completions or "
            "/v1/responses.",
            param=param,
        )
