"""Independent reference for greedy decoding: plain transformers, no vLLM, no server code.

The server's greedy output on a checkpoint is checked token for token against
`LlavaForConditionalGeneration.generate(do_sample=False)` run here in float32.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import AutoProcessor, LlavaForConditionalGeneration, ProcessorMixin


@functools.lru_cache(maxsize=4)
def load_reference(checkpoint_dir: Path) -> tuple[LlavaForConditionalGeneration, ProcessorMixin]:
    """Model and processor of a checkpoint dir, loaded once per dir (float32, eval mode)."""
    model = LlavaForConditionalGeneration.from_pretrained(checkpoint_dir, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(checkpoint_dir)
    return model.eval(), processor


def render_prompt(checkpoint_dir: Path, messages: list[dict[str, Any]]) -> str:
    """The prompt text the checkpoint's own chat template makes of HF-format messages."""
    _, processor = load_reference(checkpoint_dir)
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert isinstance(prompt, str)
    return prompt


def reference_greedy_ids(
    checkpoint_dir: Path,
    messages: list[dict[str, Any]],
    images: list[Image.Image],
    max_new_tokens: int,
) -> list[int]:
    """Token ids that greedy decoding generates after the rendered prompt (prompt excluded)."""
    model, processor = load_reference(checkpoint_dir)
    prompt = render_prompt(checkpoint_dir, messages)
    inputs = processor(images=images or None, text=prompt, return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
    prompt_len = inputs["input_ids"].shape[1]
    return [int(token_id) for token_id in output[0, prompt_len:]]


def reference_prompt_length(
    checkpoint_dir: Path, messages: list[dict[str, Any]], images: list[Image.Image]
) -> int:
    """Prompt tokens once the processor expands each image placeholder into its image tokens."""
    _, processor = load_reference(checkpoint_dir)
    prompt = render_prompt(checkpoint_dir, messages)
    inputs = processor(images=images or None, text=prompt, return_tensors="pt")
    return int(inputs["input_ids"].shape[1])


def reference_token_texts(checkpoint_dir: Path, token_ids: list[int]) -> list[str]:
    """Each token decoded alone, as an OpenAI logprobs entry shows it."""
    _, processor = load_reference(checkpoint_dir)
    return [processor.tokenizer.decode([token_id]) for token_id in token_ids]


def to_hf_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-format messages -> the HF template format ({"type": "image"} for each image)."""
    converted = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list):
            content = [
                {"type": "image"} if part["type"] == "image_url" else part for part in content
            ]
        converted.append({"role": message["role"], "content": content})
    return converted


def reference_text_ids(checkpoint_dir: Path, text: str) -> list[int]:
    """A plain-text prompt's token ids, BOS included (as a completions prompt is tokenized)."""
    _, processor = load_reference(checkpoint_dir)
    return [int(token_id) for token_id in processor.tokenizer(text)["input_ids"]]


def reference_greedy_continuation(
    checkpoint_dir: Path, prompt_ids: list[int], max_new_tokens: int
) -> list[int]:
    """Token ids greedy decoding generates after a text-only prompt of token ids."""
    model, _ = load_reference(checkpoint_dir)
    input_ids = torch.tensor([prompt_ids])
    with torch.inference_mode():
        output = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=False,
            max_new_tokens=max_new_tokens,
        )
    return [int(token_id) for token_id in output[0, len(prompt_ids) :]]


def reference_prompt_logprobs(checkpoint_dir: Path, token_ids: list[int]) -> list[float]:
    """log P(token i | tokens before it) for i = 1..len-1: what echo with logprobs reports."""
    model, _ = load_reference(checkpoint_dir)
    input_ids = torch.tensor([token_ids])
    with torch.inference_mode():
        logits = model(input_ids=input_ids).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return [float(logprobs[i - 1, token_ids[i]]) for i in range(1, len(token_ids))]


def reference_beam_ids(
    checkpoint_dir: Path,
    messages: list[dict[str, Any]],
    images: list[Image.Image],
    beams: int,
    max_new_tokens: int,
) -> list[list[int]]:
    """transformers' beam search: the `beams` best continuations, best first. The end of
    sequence is a token like any other (eos_token_id=None; the server's request sets
    ignore_eos), so every beam runs to max_new_tokens."""
    model, processor = load_reference(checkpoint_dir)
    prompt = render_prompt(checkpoint_dir, messages)
    inputs = processor(images=images or None, text=prompt, return_tensors="pt")
    return _beam_search(model, dict(inputs), beams, max_new_tokens)


def reference_text_beam_ids(
    checkpoint_dir: Path, prompt_ids: list[int], beams: int, max_new_tokens: int
) -> list[list[int]]:
    """reference_beam_ids after a text-only prompt of token ids."""
    model, _ = load_reference(checkpoint_dir)
    input_ids = torch.tensor([prompt_ids])
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    return _beam_search(model, inputs, beams, max_new_tokens)


def _beam_search(
    model: Any, inputs: dict[str, Any], beams: int, max_new_tokens: int
) -> list[list[int]]:
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            do_sample=False,
            num_beams=beams,
            num_return_sequences=beams,
            max_new_tokens=max_new_tokens,
            eos_token_id=None,
        )
    prompt_len = inputs["input_ids"].shape[1]
    return [[int(token_id) for token_id in row[prompt_len:]] for row in output]
