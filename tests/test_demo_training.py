"""A few steps of every train-demo stage: it runs, logs losses, is deterministic, and writes
loadable checkpoints in both formats."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import PreTrainedTokenizerFast

from llava_demo.batches import IGNORE, Batch, Batcher, batch_loss, row_embeddings
from llava_demo.checkpoint_load import load_checkpoint
from llava_demo.config import TrainConfig
from llava_demo.export import export_original, hf_folder
from llava_demo.model import DemoLlava, DemoShape, build_tokenizer
from llava_demo.scenes import Scene, generate_scene
from llava_demo.train import train_demo
from server.model_repo import resolve_model

TINY_RUN: dict[str, Any] = {
    "scenes": 64,
    "encoder_steps": 2,
    "encoder_scenes": 96,
    "lm_steps": 2,
    "stage1_steps": 2,
    "stage2_steps": 9,
    "batch_size": 4,
    "eval_scenes": 4,
    "threads": 1,
    # A one-layer decoder: what these tests check does not depend on the model's size, and the
    # untrained models' offline evaluations generate to their token limit.
    "text_layers": 1,
    "text_hidden": 64,
    "text_head_dim": 32,
}
# The same small decoder for the loss tests (the vision side keeps its size: the features are
# random here).
SMALL = DemoShape(text_hidden=64, text_layers=1, text_intermediate=128, text_head_dim=32)


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return build_tokenizer()


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return [generate_scene(seed) for seed in range(16)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first = tmp_path_factory.mktemp("first") / "llava-demo"
    second = tmp_path_factory.mktemp("second") / "llava-demo"
    train_demo(TrainConfig(out=first, **TINY_RUN))
    train_demo(TrainConfig(out=second, ablations=False, **TINY_RUN))
    return first, second


def test_every_stage_logs_its_losses(runs: tuple[Path, Path]) -> None:
    lines = (runs[0] / "train_log.jsonl").read_text().splitlines()
    stages = [json.loads(line)["stage"] for line in lines]
    for stage in ("encoder", "language model", "stage 1 (projector)"):
        assert stages.count(stage) == 2, stage
    assert stages.count("stage 2 (full data)") == 9
    # The paper's data ablation: the conversation subset for the same epochs, i.e. as many
    # conversation batches as the full run drew (2 of 9 at the default weights 1:1:1:1:0.5).
    assert stages.count("stage 2 (conversation only)") == 2
    summary_text = (runs[0] / "training_summary.json").read_text()
    hf_summary = hf_folder(runs[0]) / "training_summary.json"
    assert hf_summary.read_text() == summary_text  # eval-demo reads what it learnt from
    summary = json.loads(summary_text)
    assert set(summary["offline_accuracy"]) == {
        "full data",
        "stage 1 only",
        "conversation data only",
    }


def test_same_seed_same_weights(runs: tuple[Path, Path]) -> None:
    """The ablation run (trained on a copy) does not disturb the full model's RNG streams."""
    for part in ("weights", "tower"):
        first = load_file(str(runs[0] / part / "model.safetensors"))
        second = load_file(str(runs[1] / part / "model.safetensors"))
        assert first.keys() == second.keys()
        assert all(torch.equal(first[key], second[key]) for key in first), part


def test_checkpoints_have_the_original_and_hf_layouts(runs: tuple[Path, Path]) -> None:
    config = json.loads((runs[0] / "weights" / "config.json").read_text())
    assert config["architectures"] == ["LlavaLlamaForCausalLM"]
    assert config["mm_projector_type"] == "linear"
    weights = load_file(str(runs[0] / "weights" / "model.safetensors"))
    assert {"model.mm_projector.weight", "model.mm_projector.bias"} <= weights.keys()
    assert not any("vision" in key for key in weights), "the tower is a separate checkpoint"
    tower = load_file(str(runs[0] / "tower" / "model.safetensors"))
    assert all(key.startswith("vision_model.") for key in tower)
    hf = runs[0].parent / "llava-demo-hf" / "weights"
    hf_config = json.loads((hf / "config.json").read_text())
    assert hf_config["architectures"] == ["LlavaForConditionalGeneration"]
    assert (hf / "chat_template.jinja").is_file() or "chat_template" in (
        hf / "tokenizer_config.json"
    ).read_text()


def test_output_folders_are_servable_entries(runs: tuple[Path, Path], tmp_path: Path) -> None:
    """Each written folder gets a model.yaml, so `serve --model FOLDER` takes it as it is."""
    original = resolve_model(str(runs[0]), tmp_path)
    assert (original.name, original.format, original.conversation) == (
        "llava-demo",
        "original",
        "llava_v0",
    )
    assert original.source.path == runs[0] / "weights"
    assert original.image_placement == "after_last_question", "trained with the question first"
    hf = resolve_model(str(runs[0].parent / "llava-demo-hf"), tmp_path)
    assert (hf.name, hf.format, hf.source.path) == (
        "llava-demo-hf",
        "hf",
        runs[0].parent / "llava-demo-hf" / "weights",
    )


def test_a_continued_run_starts_from_the_checkpoint_and_trains_stage_2_alone(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    """`train --init`: the loaded model is the checkpoint, weight for weight (what it exports
    before any step), the tower and tokenizer are kept, and only stage 2 runs."""
    start = runs[0]
    tokenizer, model, _, _ = load_checkpoint(start)
    reloaded = tmp_path / "reloaded"
    export_original(reloaded, model, tokenizer)
    before = load_file(str(start / "weights" / "model.safetensors"))
    after = load_file(str(reloaded / "model.safetensors"))
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert (reloaded / "tokenizer.json").read_text() == (
        start / "weights" / "tokenizer.json"
    ).read_text()

    continued = tmp_path / "continued" / "llava-demo"
    train_demo(TrainConfig(out=continued, init=start, ablations=False, **TINY_RUN))
    stages = {
        json.loads(line)["stage"]
        for line in (continued / "train_log.jsonl").read_text().splitlines()
    }
    assert stages == {"stage 2 (continued)"}
    tower = load_file(str(continued / "tower" / "model.safetensors"))
    original_tower = load_file(str(start / "tower" / "model.safetensors"))
    assert all(torch.equal(tower[key], original_tower[key]) for key in tower), "tower frozen"
    trained = load_file(str(continued / "weights" / "model.safetensors"))
    assert not torch.equal(
        trained["model.mm_projector.weight"], before["model.mm_projector.weight"]
    )


def full_rows_loss(model: DemoLlava, batch: Batch, features: torch.Tensor) -> torch.Tensor:
    """The plain computation: every row with its own copy of the prefix, no cache."""
    rows = batch.input_ids.shape[0]
    prefix = model.llm.get_input_embeddings()(batch.prefix_ids).expand(rows, -1, -1)
    embeds = torch.cat([prefix, row_embeddings(model, batch, features)], dim=1)
    ignore = torch.full((rows, batch.prefix_ids.shape[1]), IGNORE, dtype=torch.long)
    ones = torch.ones((rows, batch.prefix_ids.shape[1]), dtype=torch.long)
    out = model.llm(
        inputs_embeds=embeds,
        attention_mask=torch.cat([ones, batch.attention_mask], dim=1),
        labels=torch.cat([ignore, batch.labels], dim=1),
    )
    loss: torch.Tensor = out.loss
    return loss


@pytest.mark.parametrize(
    ("kind", "question_first"),
    [
        ("conversation", 0.0),
        ("detail", 0.0),
        ("caption", 0.0),
        ("conversation", 0.5),
        ("reasoning", 1.0),
    ],
)
def test_shared_prefix_loss_and_gradients_equal_the_full_rows(
    kind: str, question_first: float, tokenizer: PreTrainedTokenizerFast, scenes: list[Scene]
) -> None:
    """batch_loss computes the system prefix once for all rows: exact up to float rounding."""
    torch.manual_seed(0)
    model = DemoLlava(tokenizer, SMALL)
    features = torch.randn(len(scenes), SMALL.image_tokens, SMALL.vision_hidden)
    batch = Batcher(tokenizer, scenes, SMALL.image_tokens, question_first).sample_batch(
        [kind], [1.0], 6, random.Random(0)
    )
    grads = []
    losses = []
    for compute in (batch_loss, full_rows_loss):
        model.zero_grad()
        loss = compute(model, batch, features)
        loss.backward()  # type: ignore[no-untyped-call]
        losses.append(loss.item())
        grads.append(
            {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        )
    assert abs(losses[0] - losses[1]) < 1e-4
    assert grads[0].keys() == grads[1].keys()
    # Tokens only the shared prefix holds learn too (their gradient comes through the cache).
    only_prefix = set(batch.prefix_ids[0].tolist()) - set(batch.input_ids.flatten().tolist())
    embedding = grads[0]["llm.model.embed_tokens.weight"]
    assert only_prefix and all(embedding[token].abs().sum() > 0 for token in only_prefix)
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-4, rtol=0), name


@pytest.mark.parametrize(
    ("question_first", "turn"), [(0.0, r"<image>\n[^<]+"), (1.0, r"[^<]+\n<image>")]
)
def test_rows_hold_the_image_where_the_prompt_puts_it(
    question_first: float, turn: str, tokenizer: PreTrainedTokenizerFast, scenes: list[Scene]
) -> None:
    """Prefix + row, the image's positions shown as one <image>, read as the llava_v0 prompt."""
    batcher = Batcher(tokenizer, scenes, DemoShape().image_tokens, question_first)
    batch = batcher.sample_batch(["conversation"], [1.0], 6, random.Random(0))
    for row in range(6):
        prompt_end = int((batch.labels[row] != IGNORE).nonzero()[0])
        image = batch.image_mask[row, :prompt_end].nonzero().flatten().tolist()
        assert len(image) == DemoShape().image_tokens
        assert image == list(range(image[0], image[0] + len(image)))
        ids = batch.input_ids[row, :prompt_end].tolist()
        before = tokenizer.decode(batch.prefix_ids[0].tolist() + ids[: image[0]])
        text = before + "<image>" + tokenizer.decode(ids[image[-1] + 1 :])
        assert re.fullmatch(r"<s>A chat between .+###Human: " + turn + "###Assistant:", text), text
