"""model_repo/<name>/model.yaml -> a validated ModelSpec; errors name the file and the field."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from server.errors import ConfigError
from server.prompts.conversations import TEMPLATE_NAMES, ImagePlacement


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightsSource(_Strict):
    """Exactly one of: a local folder, a hub repository id, or a checkpoint the project builds."""

    path: Path | None = None
    hub: str | None = None
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    build: str | None = Field(None, description="Name of a tiny checkpoint the project builds.")

    @model_validator(mode="after")
    def _exactly_one(self) -> WeightsSource:
        given = [name for name in ("path", "hub", "build") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of path, hub or build (got {given or 'none'})")
        return self


def _one_image() -> dict[Literal["image"], int]:
    return {"image": 1}


class EngineSpec(_Strict):
    """vLLM engine arguments we expose; the names are vLLM's."""

    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    max_model_len: int | None = Field(None, ge=16)
    max_num_seqs: int = Field(16, ge=1, le=4096)
    limit_mm_per_prompt: dict[Literal["image"], int] = Field(default_factory=_one_image)
    enforce_eager: bool = False
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    seed: int = 0
    structured_outputs_backend: Literal["xgrammar", "guidance"] = Field(
        "xgrammar",
        description="vLLM's constrained-decoding backend (its structured_outputs_config.backend):"
        " xgrammar, or llguidance for a vocabulary xgrammar masks wrongly (the demo model's).",
    )

    @property
    def max_images(self) -> int:
        return self.limit_mm_per_prompt.get("image", 1)


class RequestLimits(_Strict):
    max_tokens: int = Field(1024, ge=1, description="Cap on, and default of, completion tokens.")
    max_n: int = Field(8, ge=1, le=128)


class SamplingDefaults(_Strict):
    """Used where a request leaves a parameter out."""

    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)


class ModelSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    source: WeightsSource
    format: Literal["hf", "original"] = Field(
        "hf", description="hf: llava-hf layout; original: the paper authors' checkpoints."
    )
    chat_template: Path | None = Field(
        None, description="Jinja file (relative to model.yaml); default: the checkpoint's own."
    )
    vision_tower: WeightsSource | None = Field(
        None, description="format original: the CLIP tower checkpoint (config's mm_vision_tower)."
    )
    conversation: str | None = Field(
        None, description="format original: the original code's conversation template name."
    )
    image_placement: ImagePlacement = Field(
        "before_text",
        description="format original: where a user turn's images go, before its text (the "
        "original serving code's rule), after it, or all after the last user turn's text "
        "(the last two for models trained so).",
    )
    strip_leading_space: bool = Field(
        False,
        description="Answers start without the space their first token is spelled with, as "
        "the LLaVA authors' serving code strips outputs (for models trained so, e.g. the demo).",
    )
    engine: EngineSpec = Field(default_factory=EngineSpec)
    limits: RequestLimits = Field(default_factory=RequestLimits)
    sampling: SamplingDefaults = Field(default_factory=SamplingDefaults)

    @model_validator(mode="after")
    def _format_fields(self) -> ModelSpec:
        if self.format == "hf":
            if self.vision_tower is not None or self.conversation is not None:
                raise ValueError("vision_tower and conversation are for format original only")
            if self.image_placement != "before_text":
                raise ValueError("image_placement is for format original; hf: the chat template")
            return self
        if self.vision_tower is None or self.conversation is None:
            raise ValueError("format original needs vision_tower and conversation")
        if self.conversation not in TEMPLATE_NAMES:
            raise ValueError(f"conversation: {self.conversation!r} is not one of {TEMPLATE_NAMES}")
        if self.chat_template is not None:
            raise ValueError("format original renders with conversation, not chat_template")
        return self


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
        for item in error.errors()
    )


def parse_model_yaml(path: Path) -> ModelSpec:
    """Reads and validates one model.yaml; relative paths in it are taken from its folder."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level")
    try:
        spec = ModelSpec.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{path}: {_describe(error)}") from error
    return _anchor_paths(spec, path.parent)


def _anchor_paths(spec: ModelSpec, folder: Path) -> ModelSpec:
    updates: dict[str, object] = {}
    if spec.chat_template is not None:
        updates["chat_template"] = folder / spec.chat_template
    if spec.source.path is not None:
        updates["source"] = spec.source.model_copy(update={"path": folder / spec.source.path})
    tower = spec.vision_tower
    if tower is not None and tower.path is not None:
        updates["vision_tower"] = tower.model_copy(update={"path": folder / tower.path})
    return spec.model_copy(update=updates)


def available_models(repo: Path) -> list[str]:
    return sorted(entry.parent.name for entry in repo.glob("*/model.yaml"))


def resolve_model(model: str, repo: Path) -> ModelSpec:
    """A model_repo name, a folder with model.yaml, or a bare llava-hf checkpoint folder."""
    candidate = Path(model).expanduser()
    if (candidate / "model.yaml").is_file():
        return parse_model_yaml(candidate / "model.yaml")
    if (candidate / "config.json").is_file():
        return ModelSpec(name=candidate.resolve().name, source=WeightsSource(path=candidate))
    if (repo / model / "model.yaml").is_file():
        return parse_model_yaml(repo / model / "model.yaml")
    if candidate.is_dir():
        raise ConfigError(
            f"folder {model!r} holds neither model.yaml nor a llava-hf config.json; "
            f"a train-demo output is served through a model.yaml like {repo}/llava-demo's"
        )
    raise ConfigError(unknown_model_message(model, repo))


def unknown_model_message(model: str, repo: Path) -> str:
    """Names the entry that serves a hub id given as the model, else the closest entry names."""
    entries = available_models(repo)
    if "/" in model:
        serving = [name for name in entries if _hub_id(repo / name / "model.yaml") == model]
        if serving:
            return (
                f"model {model!r} is a hub id; serve it through its model_repo entry: "
                f"--model {serving[0]}"
            )
        return (
            f"model {model!r} is neither a folder nor an entry of {repo}, and no entry "
            f"downloads it; add an entry whose model.yaml says `source: {{hub: {model}}}`"
        )
    close = difflib.get_close_matches(model, entries, n=3, cutoff=0.5)
    hint = f"did you mean {_either(close)}? " if close else ""
    return f"model {model!r} is neither a folder nor an entry of {repo}; {hint}entries: {entries}"


def _either(names: list[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _hub_id(path: Path) -> str | None:
    try:
        return parse_model_yaml(path).source.hub
    except ConfigError:  # a broken entry serves nothing; it fails when it is served itself
        return None
