"""Makes a model's weights present on local disk: builds tiny checkpoints, downloads hub ones."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from server.errors import ConfigError
from server.model_repo import ModelSpec, WeightsSource

_COMPLETE_MARKER = ".llava-serve-complete"


@dataclass(frozen=True)
class LocalModel:
    """Local folders of one model; vision_tower is set for formats that keep it separately."""

    model: Path
    vision_tower: Path | None = None

    def as_json(self) -> dict[str, str]:
        paths = {"model": str(self.model)}
        if self.vision_tower is not None:
            paths["vision_tower"] = str(self.vision_tower)
        return paths


def vision_input_size(local: LocalModel) -> int:
    """Side of the square image the vision tower takes (336 for LLaVA-1.5's)."""
    if local.vision_tower is not None:
        config = json.loads((local.vision_tower / "config.json").read_text())
    else:
        config = json.loads((local.model / "config.json").read_text())
    return int(config.get("vision_config", config)["image_size"])


def ensure_local(spec: ModelSpec, home: Path) -> LocalModel:
    tower = spec.vision_tower
    return LocalModel(
        model=_ensure_source(spec.source, home),
        vision_tower=_ensure_source(tower, home) if tower is not None else None,
    )


def _ensure_source(source: WeightsSource, home: Path) -> Path:
    if source.path is not None:
        if not (source.path / "config.json").is_file():
            raise ConfigError(f"source.path {source.path} holds no config.json")
        return source.path
    if source.build is not None:
        return _ensure_built(source.build, home)
    assert source.hub is not None
    return _download(source.hub, source.revision, home)


def _recipe_id() -> str:
    """A hash of the builders' source, so a changed recipe builds into a new folder."""
    package = Path(__file__).parent / "checkpoints"
    digest = hashlib.sha256()
    for file in sorted(package.glob("*.py")) + sorted(package.glob("*.txt")):
        digest.update(file.name.encode() + file.read_bytes())
    return digest.hexdigest()[:12]


def _ensure_built(name: str, home: Path) -> Path:
    from server.checkpoints import TINY_BUILDERS  # torch + transformers: import only when needed

    if name not in TINY_BUILDERS:
        raise ConfigError(f"source.build: no builder named {name!r}; have {sorted(TINY_BUILDERS)}")
    target = home / "checkpoints" / f"{name}-{_recipe_id()}"
    if (target / _COMPLETE_MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename, so a crash or a concurrent build never leaves half a
    # checkpoint where a reader would take it for a whole one.
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        TINY_BUILDERS[name](staging)
        (staging / _COMPLETE_MARKER).touch()
        staging.rename(target)
    except OSError:
        if not (target / _COMPLETE_MARKER).exists():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(repo_id: str, revision: str | None, home: Path) -> Path:
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo_id, revision=revision, cache_dir=home / "hub")
    except Exception as error:  # the hub client raises many kinds; all mean "not available here"
        raise ConfigError(
            f"source.hub: cannot download {repo_id!r} ({type(error).__name__}: {error}). "
            "Without network access, download it elsewhere and set source.path instead."
        ) from error
    return Path(folder)
