"""Original-format pieces without a server: config parsing and its refusals, projector
layouts, 'pad' preprocessing, model.yaml fields, and tokenizer_image_token prompt ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from server.chat.schemas import ChatMessage
from server.cli import main
from server.errors import BadRequestError, ConfigError
from server.llava.config import OriginalConfigError, original_to_llava_config
from server.llava.preprocess import expand2square
from server.llava.projector import build_projector
from server.model_repo import parse_model_yaml, resolve_model
from server.model_store import ensure_local
from server.prompts.ending import PromptEnding
from server.prompts.original import OriginalPromptBuilder
from server.settings import REPO_MODEL_DIR
from tests.images import user_message

HUMAN_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
V15_RAW = {
    "architectures": ["LlavaLlamaForCausalLM"],
    "model_type": "llava",
    "hidden_size": 128,
    "num_attention_heads": 2,
    "mm_hidden_size": 64,
    "mm_projector_type": "mlp2x_gelu",
    "mm_vision_select_layer": -2,
    "mm_vision_select_feature": "patch",
    "image_aspect_ratio": "pad",
}


@pytest.fixture(scope="module")
def v15_tower(home: Path) -> Path:
    tower = ensure_local(resolve_model("tiny-llava-v15-mlp", REPO_MODEL_DIR), home).vision_tower
    assert tower is not None
    return tower


def test_an_unedited_original_config_becomes_a_llava_config(v15_tower: Path) -> None:
    config = original_to_llava_config(V15_RAW, str(v15_tower))
    assert config.architectures == ["LlavaLlamaForCausalLM"]
    assert config.text_config.model_type == "llama"
    assert config.text_config.hidden_size == 128
    assert config.vision_config.image_size == 48
    assert config.vision_feature_layer == -2
    assert config.vision_feature_select_strategy == "default"
    cls_patch = original_to_llava_config(
        {**V15_RAW, "mm_vision_select_feature": "cls_patch"}, str(v15_tower)
    )
    assert cls_patch.vision_feature_select_strategy == "full"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("mm_projector_type", "qformer"),
        ("image_aspect_ratio", "anyres"),
        ("mm_patch_merge_type", "spatial_unpad"),
        ("mm_vision_select_feature", "cls"),
        ("mm_hidden_size", 1024),
    ],
)
def test_unsupported_original_options_are_refused_by_name(
    v15_tower: Path, key: str, value: object
) -> None:
    with pytest.raises(OriginalConfigError, match=key):
        original_to_llava_config({**V15_RAW, key: value}, str(v15_tower))


def test_projectors_have_the_original_module_layout() -> None:
    mlp3 = build_projector("mlp3x_gelu", 8, 16)
    assert sorted(mlp3.state_dict()) == [f"{i}.{p}" for i in (0, 2, 4) for p in ("bias", "weight")]
    assert sorted(build_projector("linear", 8, 16).state_dict()) == ["bias", "weight"]
    assert build_projector("identity", 16, 16).state_dict() == {}
    with pytest.raises(OriginalConfigError):
        build_projector("mlp2x_relu", 8, 16)


def test_pad_centres_the_image_on_the_mean_colour() -> None:
    padded = expand2square(Image.new("RGB", (40, 10), (255, 0, 0)), (122, 116, 104))
    assert padded.size == (40, 40)
    assert padded.getpixel((0, 0)) == (122, 116, 104)
    assert padded.getpixel((20, 20)) == (255, 0, 0)
    assert padded.getpixel((20, 14)) == (122, 116, 104)  # rows 15..24 hold the image
    tall = expand2square(Image.new("RGB", (10, 30), (0, 255, 0)), (1, 2, 3))
    assert tall.getpixel((9, 5)) == (1, 2, 3) and tall.getpixel((10, 5)) == (0, 255, 0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "original", "conversation": "vicuna_v1"}, "vision_tower"),
        ({"format": "original", "vision_tower": {"build": "x"}, "conversation": "nope"}, "nope"),
        ({"format": "hf", "conversation": "vicuna_v1"}, "original only"),
    ],
)
def test_model_yaml_checks_the_original_fields(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    lines = ["name: m", "source:", "  build: tiny-llava-v15-mlp"]
    for key, value in fields.items():
        lines += (
            [f"{key}:", f"  build: {value['build']}"]
            if isinstance(value, dict)
            else [f"{key}: {value}"]
        )
    (tmp_path / "model.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=message):
        parse_model_yaml(tmp_path / "model.yaml")


def test_prompt_ids_follow_tokenizer_image_token(home: Path) -> None:
    local = ensure_local(resolve_model("tiny-llava-v1-linear", REPO_MODEL_DIR), home)
    assert local.vision_tower is not None
    builder = OriginalPromptBuilder.for_original_checkpoint(
        local.model, local.vision_tower, "llava_v0"
    )
    url = "data:image/png;base64,AAAA"
    message = ChatMessage.model_validate(user_message("Hi", url, url))
    prompt = builder.build([message])
    tokenizer = builder.tokenizer
    start, end = tokenizer.convert_tokens_to_ids(["<im_start>", "<im_end>"])
    ids = prompt.token_ids
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    placeholders = [index for index, token in enumerate(ids) if token == 0]
    assert len(placeholders) == 2 == len(prompt.image_urls)
    assert all(ids[i - 1] == start and ids[i + 1] == end for i in placeholders)
    assert prompt.tokens_per_image == 17  # 4x4 patches + CLS (cls_patch)
    text = HUMAN_SYSTEM + "###Human: <im_start>"
    assert ids[: placeholders[0]] == tokenizer(text).input_ids


@pytest.mark.parametrize("model", ["llava-demo", "tiny-llava-v1-linear"])
def test_typed_special_tokens_stay_plain_text(home: Path, model: str) -> None:
    """The original code would turn a typed "</s>" into the end-of-sequence id (and a typed
    "<image>" into an image slot): here they are the client's characters, tokenized as text."""
    spec = resolve_model(model, REPO_MODEL_DIR)
    local = ensure_local(spec, home)
    assert local.vision_tower is not None and spec.conversation is not None
    builder = OriginalPromptBuilder.for_original_checkpoint(
        local.model, local.vision_tower, spec.conversation
    )
    tokenizer = builder.tokenizer
    typed = "a </s> b <s> c <image> d"
    ids = builder.build([ChatMessage.model_validate(user_message(typed))]).token_ids
    assert ids.count(tokenizer.eos_token_id) == 0 and ids.count(tokenizer.bos_token_id) == 1
    assert ids.count(0) == 0  # no image slot
    rendered = builder._conversation.render([typed])
    assert ids == tokenizer(rendered, split_special_tokens=True).input_ids


def test_pull_prints_the_model_and_the_vision_tower(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`llava-serve pull` (its main, in this process: torch is imported here already)."""
    main(["pull", "tiny-llava-v1-linear", "--home", str(home)])
    paths = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (Path(paths["model"]) / "config.json").is_file()
    tower_config = json.loads((Path(paths["vision_tower"]) / "config.json").read_text())
    assert tower_config["image_size"] == 32


def test_images_after_text_follow_the_text_whatever_the_part_order(home: Path) -> None:
    """image_placement after_text: the same ids whether the image part comes first or last."""
    local = ensure_local(resolve_model("tiny-llava-v1-linear", REPO_MODEL_DIR), home)
    assert local.vision_tower is not None
    builder = OriginalPromptBuilder.for_original_checkpoint(
        local.model, local.vision_tower, "llava_v0", "after_text"
    )
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    text = {"type": "text", "text": "Hi"}
    prompts = [
        builder.build([ChatMessage.model_validate({"role": "user", "content": parts})])
        for parts in ([image, text], [text, image])
    ]
    assert prompts[0].token_ids == prompts[1].token_ids
    ids = prompts[0].token_ids
    placeholder = ids.index(0)
    tokenizer = builder.tokenizer
    assert ids[: placeholder - 1] == tokenizer(HUMAN_SYSTEM + "###Human: Hi\n").input_ids
    assert tokenizer.convert_ids_to_tokens(ids[placeholder - 1]) == "<im_start>"


def test_a_continued_answer_ends_the_prompt_with_its_text(home: Path) -> None:
    """continue_final_message on the original format: the prompt is the conversation cut after
    the final assistant text; the answer goes on from there. It needs that final message."""
    spec = resolve_model("llava-demo", REPO_MODEL_DIR)
    local = ensure_local(spec, home)
    assert local.vision_tower is not None and spec.conversation is not None
    builder = OriginalPromptBuilder.for_original_checkpoint(
        local.model, local.vision_tower, spec.conversation
    )
    question = ChatMessage.model_validate(user_message("What colour is the circle?"))
    partial = ChatMessage(role="assistant", content="The circle is")
    ids = builder.build([question, partial], PromptEnding.CONTINUE).token_ids
    rendered = builder._conversation.render(
        ["What colour is the circle?", "The circle is"], ending=PromptEnding.CONTINUE
    )
    assert rendered.endswith("###Assistant: The circle is")
    assert ids == builder.tokenizer(rendered).input_ids
    with pytest.raises(BadRequestError, match="last message to be an assistant message"):
        builder.build([question], PromptEnding.CONTINUE)
    closed = builder.build([question, partial], PromptEnding.NONE).token_ids
    assert closed[: len(ids)] == ids and len(closed) > len(ids)
