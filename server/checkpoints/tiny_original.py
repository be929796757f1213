"""Builders of tiny, deterministic checkpoints in the paper authors' own format.

An original LLaVA checkpoint (liuhaotian/llava-v1-*, llava-v1.5-*) is a LLaMA checkpoint with
architecture `LlavaLlamaForCausalLM`, `mm_*` keys in config.json and the projector under
`model.mm_projector.*`; the CLIP vision tower is a separate checkpoint that config.json names
in `mm_vision_tower`. These builders write both halves, each into its own folder:

- tiny-llava-v1-linear (+ tiny-clip-v1): the paper's `linear` projector, `square` images,
  the last layer's features with the CLS token (`cls_patch`), `<im_start>`/`<im_end>`;
- tiny-llava-v15-mlp (+ tiny-clip-v15): LLaVA-1.5's `mlp2x_gelu` projector, `pad` images,
  the penultimate layer's patch features.

Weights are float32 from one seeded generator; the tokenizer is the project's BPE tokenizer,
with a LLaMA-style post-processor that puts <s> first, as LLaVA's tokenizer_image_token expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    CLIPVisionModel,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from server.checkpoints.tiny_hf import CLIP_MEAN, CLIP_STD, randomise
from server.checkpoints.tokenizer import (
    add_bos_when_encoding,
    build_hf_tokenizer,
    special_token_ids,
)

PATCH_SIZE: Final = 8


@dataclass(frozen=True)
class TinyOriginalRecipe:
    """What distinguishes one tiny original checkpoint from the other."""

    tower_name: str
    image_size: int
    tower_layers: int
    projector_type: str
    select_layer: int
    select_feature: str
    aspect_ratio: str
    use_im_start_end: bool
    seed: int


RECIPES: Final = {
    "tiny-llava-v1-linear": TinyOriginalRecipe(
        "tiny-clip-v1", 32, 2, "linear", -1, "cls_patch", "square", True, 1
    ),
    "tiny-llava-v15-mlp": TinyOriginalRecipe(
        "tiny-clip-v15", 48, 3, "mlp2x_gelu", -2, "patch", "pad", False, 2
    ),
}
TOWER_RECIPES: Final = {recipe.tower_name: recipe for recipe in RECIPES.values()}
_TEXT_HIDDEN: Final = 128
_TOWER_HIDDEN: Final = 64


def build_tiny_llava_v1_linear(out_dir: Path) -> Path:
    return build_original_llm(out_dir, RECIPES["tiny-llava-v1-linear"])


def build_tiny_llava_v15_mlp(out_dir: Path) -> Path:
    return build_original_llm(out_dir, RECIPES["tiny-llava-v15-mlp"])


def build_tiny_clip_v1(out_dir: Path) -> Path:
    return build_tower(out_dir, TOWER_RECIPES["tiny-clip-v1"])


def build_tiny_clip_v15(out_dir: Path) -> Path:
    return build_tower(out_dir, TOWER_RECIPES["tiny-clip-v15"])


def original_tokenizer(use_im_start_end: bool) -> PreTrainedTokenizerFast:
    tokenizer = build_hf_tokenizer("")
    tokenizer.chat_template = None  # original checkpoints ship none: the server's template rules
    if use_im_start_end:
        # As the original training code does: new special tokens, embeddings grown to match.
        tokenizer.add_tokens(["<im_start>", "<im_end>"], special_tokens=True)
    add_bos_when_encoding(tokenizer)
    return tokenizer


def build_original_llm(out_dir: Path, recipe: TinyOriginalRecipe) -> Path:
    """config.json with mm_* keys, LLaMA + mm_projector weights, tokenizer; no tower."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = original_tokenizer(recipe.use_im_start_end)
    text_config = _text_config(tokenizer)
    generator = torch.Generator().manual_seed(recipe.seed)
    llm = randomise(LlamaForCausalLM(text_config), generator)
    projector = randomise(build_reference_projector(recipe.projector_type), generator)
    weights = {key: value for key, value in llm.state_dict().items()}
    weights.update({f"model.mm_projector.{k}": v for k, v in projector.state_dict().items()})
    save_weights(weights, out_dir / "model.safetensors")
    config = {**text_config.to_dict(), **mm_config_keys(recipe)}
    config["architectures"] = ["LlavaLlamaForCausalLM"]
    config["model_type"] = "llava"
    (out_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    GenerationConfig.from_model_config(text_config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_tower(out_dir: Path, recipe: TinyOriginalRecipe) -> Path:
    """A CLIP vision tower checkpoint with its CLIPImageProcessor, like openai/clip-vit-*."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config = CLIPVisionConfig(
        hidden_size=_TOWER_HIDDEN,
        intermediate_size=256,
        num_hidden_layers=recipe.tower_layers,
        num_attention_heads=2,
        image_size=recipe.image_size,
        patch_size=PATCH_SIZE,
        projection_dim=_TOWER_HIDDEN,
        hidden_act="quick_gelu",
    )
    generator = torch.Generator().manual_seed(recipe.seed + 100)
    tower = randomise(CLIPVisionModel(config), generator)
    config.save_pretrained(out_dir)
    # The hub layout of openai/clip-vit-*: transformers 5 saves without the vision_model. prefix.
    weights = {
        key if key.startswith("vision_model.") else f"vision_model.{key}": value
        for key, value in tower.state_dict().items()
    }
    save_weights(weights, out_dir / "model.safetensors")
    CLIPImageProcessor(
        size={"shortest_edge": recipe.image_size},
        crop_size={"height": recipe.image_size, "width": recipe.image_size},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    ).save_pretrained(out_dir)
    return out_dir


def build_reference_projector(projector_type: str) -> nn.Module:
    """The tiny projector as the original builder makes it (plain torch modules)."""
    if projector_type == "linear":
        return nn.Linear(_TOWER_HIDDEN, _TEXT_HIDDEN)
    return nn.Sequential(
        nn.Linear(_TOWER_HIDDEN, _TEXT_HIDDEN), nn.GELU(), nn.Linear(_TEXT_HIDDEN, _TEXT_HIDDEN)
    )


def _text_config(tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    ids = special_token_ids(tokenizer)
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=_TEXT_HIDDEN,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,  # head_dim 64: vLLM's CPU attention rejects 16
        num_key_value_heads=2,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        bos_token_id=ids["<s>"],
        eos_token_id=ids["</s>"],
        pad_token_id=ids["<pad>"],
        tie_word_embeddings=False,
    )


def mm_config_keys(recipe: TinyOriginalRecipe) -> dict[str, object]:
    """The multimodal keys the original training code writes into config.json."""
    return {
        "mm_vision_tower": f"llava-serve/{recipe.tower_name}",
        "mm_hidden_size": _TOWER_HIDDEN,
        "mm_projector_type": recipe.projector_type,
        "mm_vision_select_layer": recipe.select_layer,
        "mm_vision_select_feature": recipe.select_feature,
        "mm_use_im_start_end": recipe.use_im_start_end,
        "mm_use_im_patch_token": False,
        "mm_patch_merge_type": "flat",
        "image_aspect_ratio": recipe.aspect_ratio,
        "use_mm_proj": True,
        "tune_mm_mlp_adapter": False,
        "freeze_mm_mlp_adapter": False,
        "tokenizer_padding_side": "right",
        "tokenizer_model_max_length": 2048,
    }


def save_weights(weights: dict[str, torch.Tensor], path: Path) -> None:
    """Writes safetensors the way the hub checkpoints are: sorted keys, contiguous, readable."""
    tensors = {key: value.detach().contiguous().clone() for key, value in sorted(weights.items())}
    save_file(tensors, str(path), metadata={"format": "pt"})
    path.chmod(0o644)  # safetensors writes owner-only; a container's serving user must read it
