"""model.yaml validation: good entries load, bad ones fail with the file and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.errors import ConfigError
from server.model_loader import structured_outputs_config
from server.model_repo import available_models, parse_model_yaml, resolve_model
from server.settings import REPO_MODEL_DIR


def test_repository_entries_all_validate() -> None:
    names = available_models(REPO_MODEL_DIR)
    assert {"tiny-llava-hf", "llava-1.5-7b-hf"} <= set(names)
    for name in names:
        assert resolve_model(name, REPO_MODEL_DIR).name == name


def test_tiny_model_is_float32_and_built() -> None:
    spec = resolve_model("tiny-llava-hf", REPO_MODEL_DIR)
    assert spec.engine.dtype == "float32"
    assert spec.source.build == "tiny-llava-hf"


def test_the_structured_outputs_backend_reaches_vllm_per_entry() -> None:
    """xgrammar unless model.yaml names llguidance, as the demo entries do (their vocabulary
    trips xgrammar's token mask); compact JSON either way."""
    tiny, demo = (resolve_model(name, REPO_MODEL_DIR) for name in ("tiny-llava-hf", "llava-demo"))
    assert tiny.engine.structured_outputs_backend == "xgrammar"
    assert demo.engine.structured_outputs_backend == "guidance"
    assert resolve_model("llava-demo-hf", REPO_MODEL_DIR).engine == demo.engine
    config = structured_outputs_config(demo.engine.structured_outputs_backend)
    assert (config.backend, config.disable_any_whitespace) == ("guidance", True)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("name: x\nsource: {build: a, hub: b}\n", "source"),
        ("name: x\nsource: {hub: a}\nengine: {max_model_len: 4}\n", "engine.max_model_len"),
        ("name: x\nsource: {hub: a}\nengine: {dtype: float8}\n", "engine.dtype"),
        ("name: x\nsource: {hub: a}\nengine: {tensor_parallel: 2}\n", "engine.tensor_parallel"),
        ("name: x\nsource: {hub: a}\nsampling: {temperature: 9}\n", "sampling.temperature"),
        (
            "name: x\nsource: {hub: a}\nengine: {structured_outputs_backend: outlines}\n",
            "engine.structured_outputs_backend",
        ),
        ("name: x\nsource: {hub: a}\nformat: gguf\n", "format"),
        ("name: x\nsource: {hub: a}\nimage_placement: after_text\n", "image_placement"),
        ("name: x\nsource: {hub: a}\nimage_placement: middle\n", "image_placement"),
        ("source: {hub: a}\n", "name"),
        ("- just a list\n", "mapping"),
    ],
)
def test_bad_model_yaml_names_the_field(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        parse_model_yaml(path)
    assert str(path) in str(raised.value)
    assert named in str(raised.value)


def test_unknown_model_lists_the_entries(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tiny-llava-hf"):
        resolve_model("nope", REPO_MODEL_DIR)


def test_a_folder_without_a_checkpoint_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()  # what a bare train-demo --out folder looks like
    with pytest.raises(ConfigError, match=r"holds neither model\.yaml nor a llava-hf config\.json"):
        resolve_model(str(tmp_path), REPO_MODEL_DIR)


def test_relative_paths_are_taken_from_the_yaml_folder(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nsource: {path: weights}\nchat_template: t.jinja\n")
    spec = parse_model_yaml(path)
    assert spec.source.path == tmp_path / "weights"
    assert spec.chat_template == tmp_path / "t.jinja"
