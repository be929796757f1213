"""Independent reference forward for original-format LLaVA checkpoints: the paper's equations
with plain transformers modules, no vLLM and no server code.

    Z_v = g(X_v)          CLIPVisionModel hidden state of the selected layer (patch tokens, or
                          CLS + patches), the image preprocessed as the original code does
    H_v = W · Z_v         the projector: one linear layer (paper) or Linear-GELU-Linear (1.5)
    H_v spliced into LlamaForCausalLM's inputs_embeds where the prompt says <image>, then
    greedy decoding in float32.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from transformers import (
    AutoTokenizer,
    CLIPImageProcessor,
    CLIPVisionModel,
    LlamaForCausalLM,
    PreTrainedTokenizerBase,
)

IMAGE = "<image>"


@functools.lru_cache(maxsize=4)
def _load(checkpoint: Path, tower: Path) -> tuple[Any, ...]:
    config = json.loads((checkpoint / "config.json").read_text())
    llm = LlamaForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    weights = load_file(str(checkpoint / "model.safetensors"))
    projector = {k[len("model.mm_projector.") :]: v for k, v in weights.items() if "mm_proj" in k}
    vision = CLIPVisionModel.from_pretrained(tower, dtype=torch.float32).eval()
    processor = CLIPImageProcessor.from_pretrained(tower)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    return config, llm, projector, vision, processor, tokenizer


def _expand2square(image: Image.Image, colour: tuple[int, ...]) -> Image.Image:
    width, height = image.size
    if width == height:
        return image
    if width > height:
        result = Image.new(image.mode, (width, width), colour)
        result.paste(image, (0, (width - height) // 2))
        return result
    result = Image.new(image.mode, (height, height), colour)
    result.paste(image, ((height - width) // 2, 0))
    return result


def _pixels(image: Image.Image, config: dict[str, Any], processor: Any) -> torch.Tensor:
    image = image.convert("RGB")
    if config.get("image_aspect_ratio") == "pad":
        image = _expand2square(image, tuple(int(x * 255) for x in processor.image_mean))
    pixels: torch.Tensor = processor.preprocess(image, return_tensors="pt")["pixel_values"]
    return pixels


def _project(features: torch.Tensor, kind: str, weights: dict[str, torch.Tensor]) -> torch.Tensor:
    if kind == "identity":
        return features
    if kind == "linear":
        return F.linear(features, weights["weight"], weights["bias"])
    match = re.fullmatch(r"mlp(\d+)x_gelu", kind)
    assert match is not None, kind
    hidden = features
    for depth in range(int(match.group(1))):
        if depth > 0:
            hidden = F.gelu(hidden)
        hidden = F.linear(hidden, weights[f"{2 * depth}.weight"], weights[f"{2 * depth}.bias"])
    return hidden


def image_features(checkpoint: Path, tower: Path, image: Image.Image) -> torch.Tensor:
    """H_v of one image: (tokens, hidden)."""
    config, _, projector, vision, processor, _ = _load(checkpoint, tower)
    with torch.inference_mode():
        out = vision(_pixels(image, config, processor), output_hidden_states=True)
    selected = out.hidden_states[config["mm_vision_select_layer"]][0]
    if config.get("mm_vision_select_feature", "patch") == "patch":
        selected = selected[1:]
    return _project(selected, config["mm_projector_type"], projector)


def _pieces(tokenizer: PreTrainedTokenizerBase, prompt: str) -> list[list[int]]:
    """Token ids of the text between <image>s; <s> only at the very start (as the original)."""
    pieces = [tokenizer(chunk).input_ids for chunk in prompt.split(IMAGE)]
    bos = tokenizer.bos_token_id
    return [ids if index == 0 or ids[:1] != [bos] else ids[1:] for index, ids in enumerate(pieces)]


def reference_greedy(
    checkpoint: Path, tower: Path, prompt: str, images: list[Image.Image], max_new_tokens: int
) -> tuple[list[int], int]:
    """(greedy token ids, prompt length in tokens with each image's features counted)."""
    _, llm, _, _, _, tokenizer = _load(checkpoint, tower)
    embed = llm.get_input_embeddings()
    pieces = _pieces(tokenizer, prompt)
    assert len(pieces) == len(images) + 1, "one <image> per image"
    parts: list[torch.Tensor] = []
    with torch.inference_mode():
        for index, ids in enumerate(pieces):
            if index > 0:
                parts.append(image_features(checkpoint, tower, images[index - 1]))
            parts.append(embed(torch.tensor(ids, dtype=torch.long)))
        embeds = torch.cat(parts)[None]
        prompt_length = embeds.shape[1]
        generated: list[int] = []
        for _ in range(max_new_tokens):
            logits = llm(inputs_embeds=embeds).logits[0, -1]
            token = int(torch.argmax(logits))
            generated.append(token)
            if token == tokenizer.eos_token_id:
                break
            embeds = torch.cat([embeds, embed(torch.tensor([[token]]))], dim=1)
    return generated, prompt_length


def token_texts(checkpoint: Path, tower: Path, token_ids: list[int]) -> list[str]:
    tokenizer = _load(checkpoint, tower)[5]
    return [tokenizer.decode([token_id]) for token_id in token_ids]
