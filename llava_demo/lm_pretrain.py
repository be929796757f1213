"""Language-model pre-training on the demo's text alone: our stand-in for Vicuna.

The paper starts from a pre-trained chat LLM. Here the LLaMA first learns the language of the
scenes (the conversation template, questions, captions, answers) from text without images, so
it knows how an answer is worded but not what is in any picture.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerFast

from llava_demo.config import TrainConfig
from llava_demo.instructions import STAGE2_KINDS, make_sample
from llava_demo.loss_log import LossLog
from llava_demo.model import CONVERSATION, DemoLlava
from llava_demo.scenes import Scene
from server.prompts.conversations import CONVERSATIONS


def text_batch(
    tokenizer: PreTrainedTokenizerFast, scenes: Sequence[Scene], size: int, rng: random.Random
) -> dict[str, torch.Tensor]:
    texts = []
    for _ in range(size):
        scene = scenes[rng.randrange(len(scenes))]
        sample = make_sample(scene, rng.choice(("caption", *STAGE2_KINDS)), rng.randrange(1 << 30))
        prompt = CONVERSATIONS[CONVERSATION].render(list(sample.turns))
        texts.append(prompt + sample.written_answer + tokenizer.eos_token)
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
    return {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "labels": labels,
    }


def pretrain_language_model(
    model: DemoLlava,
    tokenizer: PreTrainedTokenizerFast,
    scenes: Sequence[Scene],
    config: TrainConfig,
    log: LossLog,
) -> None:
    params = list(model.llm.parameters())
    optimiser = torch.optim.AdamW(params, lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, config.learning_rate, total_steps=config.lm_steps, pct_start=0.1
    )
    rng = random.Random(f"{config.seed}:language model")
    model.train()
    bar = log.bar("language model (text only)", config.lm_steps)
    for step in bar:
        loss = model.llm(**text_batch(tokenizer, scenes, config.batch_size, rng)).loss
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        log.write("language model", step, loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
