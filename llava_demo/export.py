"""Writes the trained demo model: the original format (the default) and its llava-hf export.

Original format, laid out as server/checkpoints/tiny_original.py lays it out: `weights/` is an
LlavaLlamaForCausalLM checkpoint (LLaMA weights + `model.mm_projector.*`, the paper's `linear`
projector, mm_* keys in config.json), `tower/` the separate CLIP vision tower with its image
processor. The llava-hf export (LlavaForConditionalGeneration) has no linear projector: its
projector is always linear_1 -> activation -> linear_2, and no activation name means identity
in both transformers and vLLM. It uses relu with a shift instead: linear_1 = (W, b + SHIFT),
linear_2 = (I, -SHIFT), exact wherever W z + b > -SHIFT (the features are far inside that),
up to float rounding of the shift.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import torch
import yaml
from tokenizers import Tokenizer
from transformers import (
    CLIPImageProcessor,
    CLIPVisionModel,
    GenerationConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from llava_demo.chat_template import llava_v0_template
from llava_demo.model import SELECT_LAYER, DemoLlava
from llava_demo.paths import MODEL_REPO
from llava_demo.scenes import CANVAS
from server.checkpoints.tiny_hf import hub_layout_state_dict
from server.checkpoints.tiny_original import TinyOriginalRecipe, mm_config_keys, save_weights
from server.checkpoints.tokenizer import IMAGE_TOKEN, special_token_ids
from server.prompts.conversations import ImagePlacement

TOWER_NAME: Final = "llava-demo-clip"
PROJECTOR_SHIFT: Final = 32.0
RECIPE: Final = TinyOriginalRecipe(
    TOWER_NAME, CANVAS, 3, "linear", SELECT_LAYER, "patch", "square", False, 0
)


def export_all(
    out: Path,
    model: DemoLlava,
    tower: CLIPVisionModel,
    tokenizer: PreTrainedTokenizerFast,
    processor: CLIPImageProcessor,
    placement: ImagePlacement,
) -> None:
    """Both formats; the prompt puts the image where training put it (model.yaml's
    image_placement for the original format, the chat template for llava-hf)."""
    hf_out = hf_folder(out)
    export_original(out / "weights", model, tokenizer)
    export_tower(out / "tower", tower, processor)
    template = llava_v0_template(placement)
    export_hf(hf_out / "weights", model, tower, tokenizer, processor, template)
    write_model_yaml(out, "llava-demo", {"image_placement": placement})
    write_model_yaml(hf_out, "llava-demo-hf", {})


def hf_folder(out: Path) -> Path:
    return out.parent / f"{out.name}-hf"


def write_summary(out: Path, summary: Mapping[str, object]) -> None:
    """Into both formats' folders: eval-demo reads from it what the model learnt from."""
    text = json.dumps(summary, indent=2) + "\n"
    for folder in (out, hf_folder(out)):
        (folder / "training_summary.json").write_text(text)


def write_model_yaml(folder: Path, like: str, settings_of_this_run: dict[str, str]) -> None:
    """A folder written outside model_repo gets the settings of the committed entry `like`
    (with this run's own) under its own name, so `llava-serve serve --model FOLDER` serves it
    as it is; an existing model.yaml (the committed entries' own) is kept."""
    path = folder / "model.yaml"
    if path.exists():
        return
    settings = yaml.safe_load((MODEL_REPO / like / "model.yaml").read_text())
    settings["name"] = folder.name
    settings.update(settings_of_this_run)
    header = f"# Written by python -m llava_demo train with the settings of model_repo/{like}.\n"
    path.write_text(header + yaml.safe_dump(settings, sort_keys=False))


def export_original(folder: Path, model: DemoLlava, tokenizer: PreTrainedTokenizerFast) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    weights = dict(model.llm.state_dict())
    weights.update({f"model.mm_projector.{k}": v for k, v in model.projector.state_dict().items()})
    save_weights(weights, folder / "model.safetensors")
    config = {**model.llm.config.to_dict(), **mm_config_keys(RECIPE)}
    config["architectures"] = ["LlavaLlamaForCausalLM"]
    config["model_type"] = "llava"
    config.pop("transformers_version", None)  # keeps the file identical across releases
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    GenerationConfig.from_model_config(model.llm.config).save_pretrained(folder)
    tokenizer.chat_template = None  # the server's conversation template rules
    tokenizer.save_pretrained(folder)


def export_tower(folder: Path, tower: CLIPVisionModel, processor: CLIPImageProcessor) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tower.config.save_pretrained(folder)
    weights = {
        key if key.startswith("vision_model.") else f"vision_model.{key}": value
        for key, value in tower.state_dict().items()
    }
    save_weights(weights, folder / "model.safetensors")
    processor.save_pretrained(folder)


def hf_model(
    model: DemoLlava, tower: CLIPVisionModel, image_token_id: int
) -> LlavaForConditionalGeneration:
    text = model.llm.config
    vision = copy.deepcopy(tower.config)
    vision._name_or_path = ""  # the folder the tower was loaded from (a distillation's init)
    config = LlavaConfig(
        architectures=["LlavaForConditionalGeneration"],
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        image_seq_length=(tower.config.image_size // tower.config.patch_size) ** 2,
        projector_hidden_act="relu",
        vision_feature_layer=SELECT_LAYER,
        vision_feature_select_strategy="default",
        pad_token_id=text.pad_token_id,
        tie_word_embeddings=False,
    )
    llava = LlavaForConditionalGeneration(config).to(torch.float32).eval()
    with torch.no_grad():
        llava.model.language_model.load_state_dict(model.llm.model.state_dict())
        llava.lm_head.load_state_dict(model.llm.lm_head.state_dict())
        llava.model.vision_tower.load_state_dict(tower.state_dict())
        projector = llava.model.multi_modal_projector
        projector.linear_1.weight.copy_(model.projector.weight)
        projector.linear_1.bias.copy_(model.projector.bias + PROJECTOR_SHIFT)
        projector.linear_2.weight.copy_(torch.eye(text.hidden_size))
        projector.linear_2.bias.fill_(-PROJECTOR_SHIFT)
    return llava


def export_hf(
    folder: Path,
    model: DemoLlava,
    tower: CLIPVisionModel,
    tokenizer: PreTrainedTokenizerFast,
    processor: CLIPImageProcessor,
    chat_template: str,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image_token_id = special_token_ids(tokenizer)[IMAGE_TOKEN]
    llava = hf_model(model, tower, image_token_id)
    llava.config.save_pretrained(folder)
    save_weights(hub_layout_state_dict(llava), folder / "model.safetensors")
    GenerationConfig.from_model_config(model.llm.config).save_pretrained(folder)
    hf_tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_without_bos_rule(tokenizer), **_special(tokenizer)
    )
    LlavaProcessor(
        image_processor=processor,
        tokenizer=hf_tokenizer,
        patch_size=tower.config.patch_size,  # 16, or 32 for a 96-pixel tower (tower_distil)
        vision_feature_select_strategy="default",
        chat_template=chat_template,
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1,  # the CLS token, as tiny_hf explains
    ).save_pretrained(folder)
    hf_tokenizer.chat_template = chat_template
    hf_tokenizer.save_pretrained(folder)


def _without_bos_rule(tokenizer: PreTrainedTokenizerFast) -> Tokenizer:
    """The same BPE without the <s> post-processor: the chat template writes <s> itself (as in
    tiny_hf), because vLLM's chat path tokenizes without special tokens."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state["post_processor"] = None
    return Tokenizer.from_str(json.dumps(state))


def _special(tokenizer: PreTrainedTokenizerFast) -> dict[str, object]:
    return {
        "bos_token": tokenizer.bos_token,
        "eos_token": tokenizer.eos_token,
        "unk_token": tokenizer.unk_token,
        "pad_token": tokenizer.pad_token,
        "extra_special_tokens": {"image_token": IMAGE_TOKEN},
        "model_max_length": 2048,
        "padding_side": "left",
        "clean_up_tokenization_spaces": False,
    }
