"""All server settings in one validated class: CLI flags and LLAVA_SERVE_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_MODEL_DIR = Path(__file__).resolve().parent.parent / "model_repo"


class Settings(BaseSettings):
    """Start-up settings. A bad value fails fast with an error that names the field."""

    model_config = SettingsConfigDict(env_prefix="LLAVA_SERVE_", extra="forbid")

    model: str = Field(
        "tiny-llava-hf",
        description="A model_repo entry name, a folder holding model.yaml, or a checkpoint folder.",
    )
    host: str = Field("127.0.0.1", description="Address to bind; 0.0.0.0 in containers.")
    port: int = Field(8000, ge=1, le=65535)
    model_repo: Path = Field(REPO_MODEL_DIR, description="Folder of model_repo/<name>/model.yaml.")
    home: Path = Field(
        Path.home() / ".cache" / "llava-serve",
        description="Where built and downloaded checkpoints are kept.",
    )
    served_model_name: str | None = Field(
        None, description="The model id clients send; defaults to the model's name."
    )
    media_fetch_timeout_s: float = Field(10.0, gt=0, le=300)
    media_max_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    media_max_image_pixels: int = Field(40_000_000, ge=64)
    media_decode_workers: int = Field(2, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
