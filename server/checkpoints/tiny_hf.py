"""Builder of a tiny, deterministic llava-hf checkpoint for tests and the default `serve`.

The checkpoint has the file layout and weight names of the hub repo llava-hf/llava-1.5-7b-hf
(LlavaForConditionalGeneration: CLIP vision tower, 2-layer GELU projector, LLaMA decoder),
with random float32 weights from a fixed seed and a BPE tokenizer trained on a fixed text, so
building it twice gives byte-identical files and nothing is ever downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from server.checkpoints.tokenizer import (
    BOS_TOKEN,
    EOS_TOKEN,
    IMAGE_TOKEN,
    PAD_TOKEN,
    build_hf_tokenizer,
    special_token_ids,
)


@dataclass(frozen=True)
class Shape:
    """Sizes of a built checkpoint; the decoder's head_dim stays 64 (vLLM-CPU's attention)."""

    image_size: int = 32
    patch_size: int = 8
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 2
    text_hidden: int = 128
    text_layers: int = 2
    text_intermediate: int = 256

    @property
    def image_tokens(self) -> int:
        """Image tokens per image: one per patch; "default" drops the CLS token."""
        return (self.image_size // self.patch_size) ** 2


TINY: Final = Shape()
# LLaVA-1.5's tower resolution (336 px, patch 14: 576 image tokens) with a decoder large
# enough that the engine's work is not negligible on a 2-core CPU; for the benchmarks.
BENCH_336: Final = Shape(
    image_size=336,
    patch_size=14,
    vision_hidden=256,
    vision_layers=4,
    vision_heads=4,
    text_hidden=512,
    text_layers=4,
    text_intermediate=1024,
)
# CLIP's normalisation constants, as in openai/clip-vit-large-patch14-336.
CLIP_MEAN: Final = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD: Final = (0.26862954, 0.26130258, 0.27577711)
# Far above transformers' 0.02: with tiny random weights that small, the residual stream is
# the current token's embedding and greedy decoding ignores the image. At 0.15 the image and
# the whole prompt visibly steer the 16-token greedy continuation.
INIT_STD: Final = 0.15

# LLaVA-1.5 (vicuna_v1) conversation format as llava-hf renders it, after the <s> that
# LLaVA's own code puts first: "<s>USER: <image>\nWhat is this? ASSISTANT:". The <s> is
# in the text because vLLM's chat path tokenizes without adding special tokens. Unlike
# llava-hf's template, parts render in their order (an image between two texts stays
# there), content may be a plain string, and OpenAI-style "image_url" parts count as
# images. The parts loop iterates a variable named `content` because that is how vLLM's
# template sniffing recognises a template taking content parts ("openai" format).
CHAT_TEMPLATE: Final = (
    "{{- '<s>' -}}"
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}"
    "{%- set content = [{'type': 'text', 'text': message['content']}] -%}"
    "{%- else -%}{%- set content = message['content'] -%}{%- endif -%}"
    "{%- if message['role'] == 'user' -%}{{ 'USER: ' }}"
    "{%- elif message['role'] == 'assistant' -%}{{ 'ASSISTANT: ' }}{%- endif -%}"
    "{%- for part in content -%}"
    "{%- if part['type'] in ['image', 'image_url'] -%}{{ '<image>\\n' }}"
    "{%- elif part['type'] == 'text' and message['role'] == 'assistant' -%}{{ part['text'] }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] + ' ' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if message['role'] == 'assistant' -%}{{ '</s>' }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)

# transformers 5 names these submodules differently from the hub checkpoints; the hub names
# are what both transformers' and vLLM's llava loaders map from without warnings.
_HUB_PREFIXES: Final = (
    ("model.language_model.", "language_model.model."),
    ("lm_head.", "language_model.lm_head."),
    ("model.vision_tower.", "vision_tower.vision_model."),
    ("model.multi_modal_projector.", "multi_modal_projector."),
)


def build_tiny_llava_hf(out_dir: Path, seed: int = 0, shape: Shape = TINY) -> Path:
    """Write the tiny llava-hf checkpoint into out_dir (created if missing); return out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_hf_tokenizer(CHAT_TEMPLATE)
    config = tiny_llava_config(tokenizer, shape)
    config.save_pretrained(out_dir)
    GenerationConfig.from_model_config(config).save_pretrained(out_dir)
    save_file(
        hub_layout_state_dict(_random_model(config, seed)),
        str(out_dir / "model.safetensors"),
        metadata={"format": "pt"},
    )
    # safetensors writes the file owner-only; a container's serving user must read it too.
    (out_dir / "model.safetensors").chmod(0o644)
    _build_processor(tokenizer, shape).save_pretrained(out_dir)
    return out_dir


def build_bench_llava_hf(out_dir: Path) -> Path:
    return build_tiny_llava_hf(out_dir, shape=BENCH_336)


def tiny_llava_config(tokenizer: PreTrainedTokenizerFast, shape: Shape = TINY) -> LlavaConfig:
    """LLaVA-1.5 shaped config, scaled down; the decoder's head_dim stays 64 for vLLM-CPU."""
    ids = special_token_ids(tokenizer)
    text_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.text_hidden,
        intermediate_size=shape.text_intermediate,
        num_hidden_layers=shape.text_layers,
        num_attention_heads=shape.text_hidden // 64,  # head_dim 64: vLLM's CPU attention
        num_key_value_heads=shape.text_hidden // 64,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        initializer_range=INIT_STD,
        bos_token_id=ids[BOS_TOKEN],
        eos_token_id=ids[EOS_TOKEN],
        pad_token_id=ids[PAD_TOKEN],
        tie_word_embeddings=False,
    )
    vision_config = CLIPVisionConfig(
        hidden_size=shape.vision_hidden,
        intermediate_size=shape.vision_hidden * 4,
        num_hidden_layers=shape.vision_layers,
        num_attention_heads=shape.vision_heads,
        image_size=shape.image_size,
        patch_size=shape.patch_size,
        projection_dim=shape.vision_hidden,
        hidden_act="quick_gelu",  # what OpenAI's CLIP ViT uses
        initializer_range=INIT_STD,
    )
    return LlavaConfig(
        # vLLM picks the model class from this; without it, it serves an embedding model.
        architectures=["LlavaForConditionalGeneration"],
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=ids[IMAGE_TOKEN],
        image_seq_length=shape.image_tokens,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        pad_token_id=ids[PAD_TOKEN],
        tie_word_embeddings=False,
    )


def _random_model(config: LlavaConfig, seed: int) -> LlavaForConditionalGeneration:
    """The model with every parameter drawn from one seeded generator, in a fixed order.

    The init is done here rather than by transformers' _init_weights so that the weights
    depend only on the seed and the shapes, not on how a transformers release initialises.
    """
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    randomise(model, torch.Generator().manual_seed(seed))
    return model


def randomise(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Every parameter drawn from the generator in a fixed order, in float32; norms start as
    the identity, as in any real init. Shared by every built checkpoint."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            if "norm" in name and name.endswith(".weight"):
                param.fill_(1.0)
            elif "norm" in name:
                param.zero_()
            else:
                param.normal_(0.0, INIT_STD, generator=generator)
    return module.to(torch.float32).eval()


def hub_layout_state_dict(model: LlavaForConditionalGeneration) -> dict[str, torch.Tensor]:
    """The state dict under the hub checkpoint names, contiguous and in sorted key order."""
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in model.state_dict().items():
        for new_prefix_from, hub_prefix in _HUB_PREFIXES:
            if key.startswith(new_prefix_from):
                key = hub_prefix + key[len(new_prefix_from) :]
                break
        else:
            raise ValueError(f"no hub name for weight {key!r}")
        renamed[key] = tensor.detach().contiguous().clone()
    return dict(sorted(renamed.items()))


def _build_processor(tokenizer: PreTrainedTokenizerFast, shape: Shape) -> LlavaProcessor:
    """CLIP preprocessing at the tower's size, and LLaVA's image-token expansion."""
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": shape.image_size},
        crop_size={"height": shape.image_size, "width": shape.image_size},
        do_center_crop=True,
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=shape.patch_size,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        image_token=IMAGE_TOKEN,
        # The CLS token: vLLM's llava processor counts patches + 1 - 1 with "default".
        num_additional_image_tokens=1,
    )
