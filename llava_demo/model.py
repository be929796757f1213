"""The demo LLaVA's parts: tokenizer, frozen CLIP tower, linear projector, LLaMA decoder.

The same HF modules are trained here and exported (llava_demo/export.py), so what was trained
is exactly what is served. Prompts are rendered with the original `llava_v0` conversation and
tokenized like the original tokenizer_image_token (server/prompts/original.py), image features
spliced where "<image>" was.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import (
    CLIPVisionConfig,
    CLIPVisionModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from llava_demo.instructions import BRIEF_PROMPTS, OUT_OF_WORLD_ANSWER, RESPONSE_TYPES, make_sample
from llava_demo.phrasings import TRAINING
from llava_demo.scenes import CANVAS, generate_scene
from server.checkpoints.tokenizer import (
    BOS_TOKEN,
    EOS_TOKEN,
    IMAGE_TOKEN,
    PAD_TOKEN,
    UNK_TOKEN,
    add_bos_when_encoding,
    special_token_ids,
    train_bpe_tokenizer,
)
from server.prompts.conversations import (
    CONVERSATIONS,
    IMAGE_PLACEHOLDER,
    ImagePlacement,
    turn_texts,
)

CONVERSATION: Final = "llava_v0"
PATCH: Final = 16
SELECT_LAYER: Final = -2
TOKENIZER_SCENES: Final = 3000  # scenes whose texts train the BPE tokenizer (seeds 0..)
# Where a row with its question first has the image: after the latest question, so that in a
# follow-up turn too the image's tokens come after, and attend to, the question being asked.
QUESTION_FIRST: Final[ImagePlacement] = "after_last_question"


def row_placement(question_first: bool) -> ImagePlacement:
    """A training row's layout: QUESTION_FIRST, or the original image-first one."""
    return QUESTION_FIRST if question_first else "before_text"


@dataclass(frozen=True)
class DemoShape:
    vision_hidden: int = 64  # tiny_original's mm_hidden_size
    vision_layers: int = 3
    text_hidden: int = 128
    text_layers: int = 4
    text_intermediate: int = 384
    # 2 heads of 64; vLLM-CPU's attention takes head sizes 32, 64, 80, ... (not 16)
    text_head_dim: int = 64

    @property
    def image_tokens(self) -> int:
        return (CANVAS // PATCH) ** 2


def prompt_text(turns: Sequence[str], placement: ImagePlacement) -> str:
    """What the server renders, with model.yaml's image_placement, for a conversation whose
    first user turn has the image, generation prompt included. `turns`: user and assistant
    texts alternating, ending with a user's."""
    images = [1] + [0] * (len(turns) - 1)
    rendered = turn_texts([[turn] for turn in turns], images, False, placement)
    return CONVERSATIONS[CONVERSATION].render(rendered)


def demo_corpus() -> list[str]:
    """The tokenizer's training text: the template and every kind of demo text."""
    # Image first, as the corpus always was: a different corpus is a different tokenizer.
    lines = [prompt_text([q], "before_text") for q in BRIEF_PROMPTS]
    lines += [f"{question}\n" for question in TRAINING.templates["out of world"]]
    for seed in range(TOKENIZER_SCENES):
        scene = generate_scene(seed)
        for kind in ("caption", *RESPONSE_TYPES, "json"):
            sample = make_sample(scene, kind)
            lines += [sample.question, sample.written_answer]
        if seed % 10 == 0:  # how follow-up turns join: "...it.###Human: ..." (laid out as
            # the corpus always had them, for the same reason)
            lines.append(prompt_text(make_sample(scene, "multi-turn").turns, "after_text"))
    lines.append(" " + OUT_OF_WORLD_ANSWER)
    return lines


@functools.cache  # the same text trains the same tokenizer: runs in one process (tests) share it
def _trained_bpe() -> str:
    """The BPE tokenizer trained on the demo's own text, serialized (immutable, so sharing the
    cached result cannot leak one caller's changes to another)."""
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus.txt"
        corpus.write_text("\n".join(demo_corpus()) + "\n", encoding="utf-8")
        return str(train_bpe_tokenizer(corpus).to_str())


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A BPE tokenizer trained on the demo's own text; <s> first, as LLaMA's tokenizer does.
    A new object each call."""
    return wrap_tokenizer(Tokenizer.from_str(_trained_bpe()))


def wrap_tokenizer(trained: Tokenizer) -> PreTrainedTokenizerFast:
    """The demo's special tokens and settings around a trained BPE tokenizer."""
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=trained,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        model_max_length=2048,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    add_bos_when_encoding(tokenizer)
    return tokenizer


def tower_config(shape: DemoShape) -> CLIPVisionConfig:
    return CLIPVisionConfig(
        hidden_size=shape.vision_hidden,
        intermediate_size=shape.vision_hidden * 4,
        num_hidden_layers=shape.vision_layers,
        num_attention_heads=2,
        image_size=CANVAS,
        patch_size=PATCH,
        projection_dim=shape.vision_hidden,
        hidden_act="quick_gelu",
    )


def text_config(tokenizer: PreTrainedTokenizerFast, shape: DemoShape) -> LlamaConfig:
    ids = special_token_ids(tokenizer)
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.text_hidden,
        intermediate_size=shape.text_intermediate,
        num_hidden_layers=shape.text_layers,
        num_attention_heads=shape.text_hidden // shape.text_head_dim,
        num_key_value_heads=shape.text_hidden // shape.text_head_dim,
        max_position_embeddings=512,
        rms_norm_eps=1e-5,
        bos_token_id=ids[BOS_TOKEN],
        eos_token_id=ids[EOS_TOKEN],
        pad_token_id=ids[PAD_TOKEN],
        tie_word_embeddings=False,
    )


class DemoLlava(nn.Module):
    """H_v = W · Z_v spliced into the decoder's input embeddings (the paper's equation)."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, shape: DemoShape):
        super().__init__()
        self.llm = LlamaForCausalLM(text_config(tokenizer, shape)).to(torch.float32)
        self.projector = nn.Linear(shape.vision_hidden, shape.text_hidden)


def tower_features(tower: CLIPVisionModel, pixels: torch.Tensor) -> torch.Tensor:
    """Z_v: the selected layer's patch tokens (CLS dropped), (n, patches, vision_hidden)."""
    with torch.no_grad():
        out = tower(pixel_values=pixels, output_hidden_states=True)
    selected: torch.Tensor = out.hidden_states[SELECT_LAYER][:, 1:]
    return selected.contiguous()


def prompt_pieces(
    tokenizer: PreTrainedTokenizerFast, turns: Sequence[str], placement: ImagePlacement
) -> tuple[list[int], list[int]]:
    """Token ids before and after the image, as tokenizer_image_token makes them."""
    before, after = prompt_text(turns, placement).split(IMAGE_PLACEHOLDER)
    after_ids: list[int] = tokenizer(after).input_ids
    return tokenizer(before).input_ids, after_ids[1:]
