"""vLLM model class for the paper authors' `LlavaLlamaForCausalLM` checkpoints.

It is vLLM's in-tree LLaVA (vision tower with feature-layer selection, embedding merge,
paged-KV LLaMA decoder) with the original projector variants and the original weight layout:
`model.*`/`lm_head.*` are the decoder, `model.mm_projector.*` the projector, and the CLIP
vision tower is read from its own checkpoint (config.mm_vision_tower), as the original does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from torch import nn
from vllm.config import VllmConfig
from vllm.model_executor.model_loader.weight_utils import (
    pt_weights_iterator,
    safetensors_weights_iterator,
)
from vllm.model_executor.models.llava import (
    LlavaForConditionalGeneration,
    init_vision_tower_for_llava,
)
from vllm.model_executor.models.utils import (
    AutoWeightsLoader,
    WeightsMapper,
    init_vllm_registered_model,
    maybe_prefix,
)
from vllm.multimodal import MULTIMODAL_REGISTRY

from server.llava.processing import (
    OriginalLlavaDummyInputsBuilder,
    OriginalLlavaMultiModalProcessor,
    OriginalLlavaProcessingInfo,
)
from server.llava.projector import build_projector

_TOWER_PREFIX = "vision_model."


@MULTIMODAL_REGISTRY.register_processor(
    OriginalLlavaMultiModalProcessor,
    info=OriginalLlavaProcessingInfo,
    dummy_inputs=OriginalLlavaDummyInputsBuilder,
)
class LlavaOriginalForCausalLM(LlavaForConditionalGeneration):  # type: ignore[misc]
    hf_to_vllm_mapper = WeightsMapper(
        orig_to_new_prefix={
            "model.mm_projector.": "multi_modal_projector.",
            "model.": "language_model.model.",
            "lm_head.": "language_model.lm_head.",
        }
    )

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = "") -> None:
        # The in-tree __init__ builds llava-hf's fixed 2-layer projector; build ours instead.
        nn.Module.__init__(self)
        config = vllm_config.model_config.hf_config
        self.config = config
        self.multimodal_config = vllm_config.model_config.multimodal_config
        self.configure_mm_token_handling(
            vocab_size=config.text_config.vocab_size, mm_token_ids=[config.image_token_index]
        )
        with self._mark_tower_model(vllm_config, "image"):
            self.vision_tower = init_vision_tower_for_llava(
                config,
                quant_config=None,
                require_post_norm=False,  # the original reads hidden_states[layer], unnormed
                prefix=maybe_prefix(prefix, "vision_tower"),
            )
            self.multi_modal_projector = build_projector(
                config.mm_projector_type,
                config.vision_config.hidden_size,
                config.text_config.hidden_size,
            )
        with self._mark_language_model(vllm_config):
            self.language_model = init_vllm_registered_model(
                vllm_config=vllm_config,
                hf_config=config.text_config,
                prefix=maybe_prefix(prefix, "language_model"),
            )
        self.make_empty_intermediate_tensors = self.language_model.make_empty_intermediate_tensors

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        # Tower weights inside the LLaVA checkpoint are ignored, as the original's delayed
        # tower load replaces them with the tower checkpoint's.
        own = ((name, w) for name, w in weights if not name.startswith("model.vision_tower."))
        loader = AutoWeightsLoader(self)
        loaded = set(loader.load_weights(own, mapper=self.hf_to_vllm_mapper))
        tower = (("vision_tower." + name, w) for name, w in self._tower_weights())
        loaded |= set(AutoWeightsLoader(self).load_weights(tower))
        return loaded

    def _tower_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """The vision half of the tower checkpoint (a CLIPModel or a CLIPVisionModel)."""
        folder = Path(self.config.mm_vision_tower)
        files = sorted(folder.glob("*.safetensors"))
        weights = (
            safetensors_weights_iterator([str(f) for f in files], use_tqdm_on_load=False)
            if files
            else pt_weights_iterator(
                [str(f) for f in sorted(folder.glob("*.bin"))], use_tqdm_on_load=False
            )
        )
        has_post_norm = self.vision_tower.vision_model.post_layernorm is not None
        for name, tensor in weights:
            if not name.startswith(_TOWER_PREFIX):
                continue
            if "post_layernorm" in name and not has_post_norm:
                continue
            yield name, tensor
