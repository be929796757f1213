"""Batched greedy answers of the demo model in torch (for ablation rows and quick checks)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerFast

from llava_demo.model import DemoLlava, prompt_pieces
from server.prompts.conversations import ImagePlacement


def greedy_answers(
    model: DemoLlava,
    tokenizer: PreTrainedTokenizerFast,
    features: torch.Tensor,
    conversations: Sequence[Sequence[str]],
    placement: ImagePlacement,
    max_new_tokens: int = 48,
) -> list[str]:
    """features: (n, patches, vision_hidden) of each conversation's image; `conversations`:
    each one's turns up to its last question (user and assistant alternating); left-padded."""
    embed = model.llm.get_input_embeddings()
    rows: list[torch.Tensor] = []
    with torch.no_grad():
        image = model.projector(features)
        for index, turns in enumerate(conversations):
            before, after = prompt_pieces(tokenizer, turns, placement)
            rows.append(
                torch.cat([embed(torch.tensor(before)), image[index], embed(torch.tensor(after))])
            )
        length = max(len(row) for row in rows)
        embeds = torch.zeros(len(rows), length, rows[0].shape[-1])
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for index, row in enumerate(rows):
            embeds[index, length - len(row) :] = row
            mask[index, length - len(row) :] = 1
        out = model.llm.generate(
            inputs_embeds=embeds,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return [tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in out]
