"""An unedited original LLaVA config.json -> the LlavaConfig our vLLM model reads.

The paper authors' config.json says `model_type: "llava"` (which transformers takes for its own
LlavaConfig, with other field names) but holds LLaMA fields plus `mm_*` keys. vLLM reads it
through the config parser registered here under CONFIG_FORMAT; the vision tower's folder comes
from `hf_overrides["mm_vision_tower"]` (model.yaml names it), as the original code loads the
tower from its own checkpoint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, PretrainedConfig
from vllm.transformers_utils.config_parser_base import ConfigParserBase

CONFIG_FORMAT: Final = "llava_original"
ARCHITECTURE: Final = "LlavaLlamaForCausalLM"
# The original code splices image features at IMAGE_TOKEN_INDEX = -200, outside the vocabulary.
# vLLM needs an in-vocabulary placeholder id; LLaMA's <unk> (0) never comes out of its
# byte-fallback tokenizer, so it cannot collide with text. hf_overrides may set another.
DEFAULT_IMAGE_TOKEN_ID: Final = 0

PROJECTOR_PATTERN: Final = re.compile(r"^(linear|identity|mlp(\d+)x_gelu)$")
SELECT_FEATURES: Final = {"patch": "default", "cls_patch": "full"}
ASPECT_RATIOS: Final = ("pad", "square")
_MM_KEYS_DEFAULTS: Final[dict[str, Any]] = {
    "mm_projector_type": "linear",
    "mm_vision_select_layer": -1,
    "mm_vision_select_feature": "patch",
    "mm_use_im_start_end": False,
    "mm_use_im_patch_token": False,
    "image_aspect_ratio": "square",
    "mm_patch_merge_type": "flat",
}


class OriginalConfigError(ValueError):
    """The original config asks for something this server does not implement."""


def original_to_llava_config(
    raw: dict[str, Any], vision_tower: str, image_token_id: int = DEFAULT_IMAGE_TOKEN_ID
) -> LlavaConfig:
    """Validated mm_* options + the tower's CLIPVisionConfig + the LLaMA text config."""
    options = {**_MM_KEYS_DEFAULTS, **{k: v for k, v in raw.items() if k in _MM_KEYS_DEFAULTS}}
    _check_options(options)
    vision_config = CLIPVisionConfig.from_pretrained(vision_tower)
    mm_hidden = raw.get("mm_hidden_size", vision_config.hidden_size)
    if mm_hidden != vision_config.hidden_size:
        raise OriginalConfigError(
            f"mm_hidden_size {mm_hidden} != hidden_size {vision_config.hidden_size} "
            f"of the vision tower {vision_tower}"
        )
    text_fields = {
        key: value
        for key, value in raw.items()
        if not key.startswith(("mm_", "_")) and key not in ("architectures", "model_type")
    }
    text_config = LlamaConfig(**{**text_fields, "architectures": ["LlamaForCausalLM"]})
    return LlavaConfig(
        architectures=[ARCHITECTURE],
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=image_token_id,
        vision_feature_layer=int(options["mm_vision_select_layer"]),
        vision_feature_select_strategy=SELECT_FEATURES[options["mm_vision_select_feature"]],
        projector_hidden_act="gelu",
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        dtype=raw.get("torch_dtype", raw.get("dtype")),
        **{**options, "mm_vision_tower": vision_tower, "mm_hidden_size": mm_hidden},
    )


def _check_options(options: dict[str, Any]) -> None:
    checks = (
        ("mm_projector_type", PROJECTOR_PATTERN.match(str(options["mm_projector_type"]))),
        ("mm_vision_select_feature", options["mm_vision_select_feature"] in SELECT_FEATURES),
        ("image_aspect_ratio", options["image_aspect_ratio"] in ASPECT_RATIOS),
        ("mm_patch_merge_type", options["mm_patch_merge_type"] == "flat"),
    )
    for key, supported in checks:
        if not supported:
            raise OriginalConfigError(
                f"config.json: {key}={options[key]!r} is not supported; see the README's "
                "list of supported mm_* options"
            )


class OriginalLlavaConfigParser(ConfigParserBase):  # type: ignore[misc]  # vLLM is untyped to mypy
    """vLLM's hook: config_format "llava_original" -> this parse()."""

    def parse(
        self,
        model: str | Path,
        trust_remote_code: bool,
        revision: str | None = None,
        code_revision: str | None = None,
        **kwargs: Any,
    ) -> tuple[dict[str, Any], PretrainedConfig]:
        raw, _ = PretrainedConfig.get_config_dict(model, revision=revision)
        overrides = kwargs.get("hf_overrides")
        overrides = overrides if isinstance(overrides, dict) else {}
        tower = overrides.get("mm_vision_tower", raw.get("mm_vision_tower"))
        if not tower:
            raise OriginalConfigError(f"{model}: no mm_vision_tower in config.json or overrides")
        image_token_id = int(overrides.get("image_token_index", DEFAULT_IMAGE_TOKEN_ID))
        return raw, original_to_llava_config(raw, str(tower), image_token_id)
