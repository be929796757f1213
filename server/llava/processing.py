"""vLLM's multimodal processing for original checkpoints: info, dummy inputs, processor.

There is no HF processor for an original checkpoint: images go through the vision tower's
CLIPImageProcessor with the original 'pad'/'square' rule (preprocess.py), and each image
placeholder id in the prompt becomes one placeholder per image feature (vLLM's in-tree LLaVA
prompt update), so vLLM's scheduler, encoder cache and usage all count image tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from PIL import Image
from transformers import BatchFeature, CLIPImageProcessor, LlavaConfig
from vllm.config.multimodal import MultiModalDummyOptions
from vllm.model_executor.models.llava import (
    BaseLlavaMultiModalProcessor,
    BaseLlavaProcessingInfo,
    LlavaDummyInputsBuilder,
)
from vllm.multimodal.inputs import MultiModalFieldConfig
from vllm.multimodal.processing.inputs import ProcessorInputs

from server.llava.preprocess import pixel_values


class OriginalLlavaProcessingInfo(BaseLlavaProcessingInfo):  # type: ignore[misc]
    def get_hf_config(self) -> LlavaConfig:
        config = self.ctx.get_hf_config(LlavaConfig)
        assert isinstance(config, LlavaConfig)
        return config

    def get_hf_processor(self, **kwargs: object) -> Any:
        raise NotImplementedError("original LLaVA checkpoints have no HF processor")

    def get_supported_mm_processor_kwargs(self) -> dict[str, set[str]]:
        # No per-request processor options: preprocessing is fixed by config.json.
        return {"text_kwargs": set(), "images_kwargs": set()}

    @cached_property
    def image_processor(self) -> CLIPImageProcessor:
        """The tower's own processor, as the original code loads it with the tower."""
        tower = self.get_hf_config().mm_vision_tower
        processor = CLIPImageProcessor.from_pretrained(tower)
        assert isinstance(processor, CLIPImageProcessor)
        return processor

    @property
    def aspect_ratio(self) -> str:
        return str(self.get_hf_config().image_aspect_ratio)


class OriginalLlavaDummyInputsBuilder(
    LlavaDummyInputsBuilder[OriginalLlavaProcessingInfo]  # type: ignore[misc]
):
    def get_dummy_text(self, mm_counts: Mapping[str, int]) -> str:
        return ""  # the prompt ids are built directly: see get_dummy_inputs below


class OriginalLlavaMultiModalProcessor(
    BaseLlavaMultiModalProcessor[OriginalLlavaProcessingInfo]  # type: ignore[misc]
):
    def get_dummy_inputs(
        self,
        seq_len: int,
        mm_counts: Mapping[str, int],
        mm_options: MultiModalDummyOptions,
    ) -> ProcessorInputs:
        # The placeholder id need not be a token the tokenizer produces from text.
        inputs = super().get_dummy_inputs(seq_len, mm_counts, mm_options)
        placeholder = self.info.get_hf_config().image_token_index
        prompt = [placeholder] * mm_counts.get("image", 0)
        return dataclasses.replace(inputs, prompt=prompt)

    def _call_hf_processor(
        self, hf_data: Mapping[str, object], hf_kwargs: Mapping[str, object]
    ) -> BatchFeature:
        given = hf_data.get("images")
        items = given if isinstance(given, list) else [given]
        images = [image for image in items if isinstance(image, Image.Image)]
        if len(images) != len(items):
            raise ValueError("images must be PIL images")
        values = pixel_values(images, self.info.image_processor, self.info.aspect_ratio)
        return BatchFeature({"pixel_values": values})

    def _get_mm_fields_config(
        self, hf_inputs: BatchFeature, hf_processor_mm_kwargs: Mapping[str, object]
    ) -> Mapping[str, MultiModalFieldConfig]:
        return {"pixel_values": MultiModalFieldConfig.batched("image")}
