"""All server settings in one validated class: CLI flags and LLAVA_SERVE_* environment variables."""

from __future__ import annotations

import difflib
import ipaddress
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_MODEL_DIR = Path(__file__).resolve().parent.parent / "model_repo"
ENV_PREFIX = "LLAVA_SERVE_"


def _split_commas(value: object) -> object:
    """CLI flags and env vars give lists as "a,b,c"; JSON lists are accepted too."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


# A list setting given as "a,b,c" (flag or env var) or as a JSON list.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]


def _check_networks(networks: list[str]) -> list[str]:
    for network in networks:
        ipaddress.ip_network(network, strict=False)  # ValueError names the bad network
    return networks


# A list of IP networks in CIDR form ("127.0.0.1/32,10.0.0.0/8").
NetworkList = Annotated[CommaList, AfterValidator(_check_networks)]


class Settings(BaseSettings):
    """Start-up settings. A bad value fails fast with an error that names the field."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    model: str = Field(
        "llava-demo",
        description="A model_repo entry name, a folder holding model.yaml, or a checkpoint folder.",
    )
    host: str = Field("127.0.0.1", description="Address to bind; 0.0.0.0 in containers.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")
    model_repo: Path = Field(REPO_MODEL_DIR, description="Folder of model_repo/<name>/model.yaml.")
    home: Path = Field(
        Path.home() / ".cache" / "llava-serve",
        description="Where built and downloaded checkpoints are kept.",
    )
    served_model_name: str | None = Field(
        None, description="The model id clients send; defaults to the model's name."
    )
    media_fetch_timeout_s: float = Field(
        10.0, gt=0, le=300, description="Time limit for fetching one image URL, in seconds."
    )
    media_max_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest image accepted, in bytes (encoded)."
    )
    media_max_image_pixels: int = Field(
        40_000_000, ge=64, description="Largest image accepted, in pixels (width x height)."
    )
    media_decode_workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Threads that decode images; unset: the cores this process may use (CPU "
        "affinity, capped by a cgroup CPU quota).",
    )
    media_decode_mode: Literal["fast", "exact"] = Field(
        "fast",
        description="fast: JPEGs decode straight to about the vision tower's size (draft mode; "
        "see docs/benchmarks.md for the measured difference); exact: full decode.",
    )
    media_cache_mib: int = Field(
        256, ge=0, description="Decoded images kept by content hash, so repeats skip decoding."
    )
    media_cache_max_image_pixels: int = Field(
        1 << 20,
        ge=0,
        description="Largest decoded image the cache keeps (a JPEG decoded at about the vision "
        "tower's size is far smaller); larger ones are decoded again when repeated.",
    )
    media_max_request_pixels: int = Field(
        64_000_000, ge=64, description="Decoded pixels of one request's images; more: 413."
    )
    media_max_inflight_pixels: int = Field(
        128_000_000,
        ge=64,
        description="Pixels being decoded across all requests at once; more: 429 + Retry-After.",
    )
    # Security (README "Security"): media fetching closed by default, limits, keys, CORS.
    media_allowed_networks: NetworkList = Field(
        [], description="CIDRs image URLs may reach though refused by default (e.g. 10.0.0.0/8)."
    )
    media_allowed_domains: CommaList = Field(
        [], description="If set, image URLs may only name these domains (and their subdomains)."
    )
    media_denied_domains: CommaList = Field([], description="Domains image URLs may not name.")
    media_file_root: Path | None = Field(
        None, description="Folder file: image URLs may read from; unset: file: URLs refused."
    )
    media_connect_timeout_s: float = Field(
        3.0, gt=0, le=60, description="Time limit for connecting to an image URL's host, in s."
    )
    media_max_redirects: int = Field(
        3, ge=0, le=10, description="Redirects followed per image URL (each one re-checked)."
    )
    media_fetches_per_host: int = Field(
        8, ge=1, le=256, description="Image downloads at once from one host (scheme, host, port)."
    )
    media_fetches_per_request: int = Field(
        4, ge=1, le=64, description="Image downloads at once for one request."
    )
    media_min_image_side: int = Field(2, ge=1, description="Smallest width/height accepted.")
    media_max_aspect_ratio: float = Field(
        20.0, ge=1, description="Largest accepted ratio of an image's long side to its short."
    )
    max_request_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest request body; larger ones get 413."
    )
    body_read_timeout_s: float = Field(
        60.0, gt=0, description="Time a client has to send the whole request body; past it: 408."
    )
    api_keys: CommaList = Field(
        [], repr=False, description="API keys clients must send (Bearer); unset: no auth."
    )
    api_keys_file: Path | None = Field(
        None, description="A file of API keys, one per line (added to api_keys)."
    )
    metrics_requires_key: bool = Field(
        True, description="With API keys set, /metrics needs a key too (off: public)."
    )
    cors_allowed_origins: CommaList = Field(
        [], description="Origins allowed by CORS (e.g. https://app.example); unset: CORS off."
    )
    trusted_proxies: NetworkList = Field(
        [],
        description="Proxies (IPs or CIDRs) whose X-Forwarded-For and X-Forwarded-Proto are "
        "believed; unset: those headers are ignored.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe log level written (every 4xx is logged at info)."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="json: one JSON object per log line; text: plain lines; auto: text on a "
        "terminal, JSON otherwise (files, containers, log collectors).",
    )
    max_running_requests: int = Field(
        64,
        ge=1,
        description=(
            "Generation requests (chat, completions, responses) admitted at once "
            "(image loading and engine)."
        ),
    )
    max_waiting_requests: int = Field(
        128, ge=0, description="Requests that may wait for a slot; past that: 429 + Retry-After."
    )
    overload_retry_after_s: int = Field(
        1, ge=1, le=3600, description="Retry-After (seconds) sent with a 429."
    )
    request_timeout_s: float = Field(
        600.0,
        gt=0,
        description="Server-side deadline of one generation request, queueing included.",
    )
    lame_duck_s: float = Field(
        5.0,
        ge=0,
        description="On SIGTERM: for this long /ready answers 503 while new requests are still "
        "served, so load balancers stop sending first; then the drain starts.",
    )
    drain_timeout_s: float = Field(
        30.0, ge=0, description="On SIGTERM: how long in-flight requests may take to finish."
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="A second port serving only the Prometheus metrics, never behind API keys; "
        "unset: /metrics on the main port only.",
    )
    playground: bool = Field(True, description="Serve the web playground page at /.")


def unknown_env_settings(environ: Mapping[str, str]) -> list[str]:
    """One warning per LLAVA_SERVE_* variable that names no setting (pydantic-settings ignores
    those silently, so a typo would quietly leave the default in force)."""
    names = list(Settings.model_fields)
    warnings = []
    for variable in sorted(environ):
        if not variable.upper().startswith(ENV_PREFIX):
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        if name in names:
            continue
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"; did you mean {ENV_PREFIX}{close[0].upper()}?" if close else ""
        warnings.append(f"{variable} is not a setting and is ignored{hint}")
    return warnings
