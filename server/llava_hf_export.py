"""Export an original checkpoint + its CLIP tower in the llava-hf layout.

llava-hf can express only a 2-layer GELU projector and no 'pad' preprocessing, so only
`mlp2x_gelu` checkpoints export, and the export preprocesses like `square`. Served through vLLM's
in-tree class, the export answers like the original format under `square`: the test of that
proves this module's weight mapping, which is the same mapping server/llava/model.py loads.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, CLIPImageProcessor, LlavaProcessor

from server.llava.config import original_to_llava_config
from server.prompts.conversations import IMAGE_PLACEHOLDER

_PROJECTOR: dict[str, str] = {"0.": "linear_1.", "2.": "linear_2."}


def export_llava_hf(checkpoint: Path, tower: Path, out_dir: Path) -> Path:
    raw = json.loads((checkpoint / "config.json").read_text())
    if raw.get("mm_projector_type") != "mlp2x_gelu":
        raise ValueError("llava-hf has only the mlp2x_gelu projector; cannot export this one")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    image_token_id = tokenizer.get_vocab().get(IMAGE_PLACEHOLDER)
    if image_token_id is None:
        raise ValueError("the tokenizer has no <image> token to use as llava-hf's image token")
    config = original_to_llava_config(raw, str(tower), image_token_id)
    for key in [key for key in config.to_dict() if key.startswith("mm_")] + ["image_aspect_ratio"]:
        delattr(config, key)
    config.architectures = ["LlavaForConditionalGeneration"]
    patches = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
    config.image_seq_length = patches + int(config.vision_feature_select_strategy == "full")
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out_dir)
    weights = _hub_layout_weights(checkpoint, tower)
    save_file(weights, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    LlavaProcessor(
        image_processor=CLIPImageProcessor.from_pretrained(tower),
        tokenizer=tokenizer,
        patch_size=config.vision_config.patch_size,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        image_token=IMAGE_PLACEHOLDER,
        num_additional_image_tokens=1,  # CLIP's CLS token
    ).save_pretrained(out_dir)
    return out_dir


def _hub_layout_weights(checkpoint: Path, tower: Path) -> dict[str, torch.Tensor]:
    """Original names -> llava-hf hub names (as llava-hf/llava-1.5-7b-hf stores them)."""
    renamed: dict[str, torch.Tensor] = {}
    for name, tensor in _tensors(checkpoint).items():
        if name.startswith("model.mm_projector."):
            rest = name.removeprefix("model.mm_projector.")
            prefix = next(new for old, new in _PROJECTOR.items() if rest.startswith(old))
            renamed["multi_modal_projector." + prefix + rest[2:]] = tensor
        elif name.startswith("model.vision_tower."):
            continue  # the tower comes from its own checkpoint, as in the original
        elif name.startswith(("model.", "lm_head.")):
            renamed["language_model." + name] = tensor
    for name, tensor in _tensors(tower).items():
        if name.startswith("vision_model."):
            renamed["vision_tower." + name] = tensor
    return {name: tensor.contiguous() for name, tensor in sorted(renamed.items())}


def _tensors(folder: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for file in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(str(file)))
    return tensors
