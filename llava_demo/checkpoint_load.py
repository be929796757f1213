"""A demo checkpoint that `train` wrote (the original format), loaded back for more training.

`train --init DIR` continues stage 2 from DIR's tokenizer, frozen tower, projector and
decoder: new instruction data (e.g. JSON descriptions) is taught to a model without
retraining what it already knows, as the paper's stage 2 starts from stage 1's weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import CLIPImageProcessor, CLIPVisionModel, PreTrainedTokenizerFast

from llava_demo.model import DemoLlava, DemoShape, wrap_tokenizer

PROJECTOR_PREFIX = "model.mm_projector."


def decoder_shape_of(config: dict[str, int]) -> DemoShape:
    heads = config["num_attention_heads"]
    return DemoShape(
        text_hidden=config["hidden_size"],
        text_layers=config["num_hidden_layers"],
        text_intermediate=config["intermediate_size"],
        text_head_dim=config["hidden_size"] // heads,
    )


class Checkpoint(NamedTuple):
    tokenizer: PreTrainedTokenizerFast
    model: DemoLlava
    tower: CLIPVisionModel
    # The tower's own image processor, as saved with it: pictures at the size it was trained on.
    processor: CLIPImageProcessor


def load_checkpoint(folder: Path) -> Checkpoint:
    """folder/weights and folder/tower; loading is strict, so a checkpoint of another shape is
    refused, not half-loaded."""
    weights = folder / "weights"
    tokenizer = wrap_tokenizer(Tokenizer.from_file(str(weights / "tokenizer.json")))
    config = json.loads((weights / "config.json").read_text())
    model = DemoLlava(tokenizer, decoder_shape_of(config))
    tensors = load_file(str(weights / "model.safetensors"))
    projector = {
        key.removeprefix(PROJECTOR_PREFIX): value
        for key, value in tensors.items()
        if key.startswith(PROJECTOR_PREFIX)
    }
    decoder = {k: v for k, v in tensors.items() if not k.startswith(PROJECTOR_PREFIX)}
    model.llm.load_state_dict(decoder)
    model.projector.load_state_dict(projector)
    tower = CLIPVisionModel.from_pretrained(folder / "tower", torch_dtype=torch.float32)
    processor = CLIPImageProcessor.from_pretrained(folder / "tower")
    return Checkpoint(tokenizer, model, tower.eval(), processor)
