"""API keys: an ASGI middleware that checks `Authorization: Bearer <key>` on every route except the
probes, whatever the method, Host header or path spelling (only the exact probe paths are exempt;
everything else, unknown paths included, needs a key). Keys: settings, env, or a file."""

from __future__ import annotations

import hmac
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import AuthenticationError, ConfigError, serving_error_response
from server.settings import Settings

PROBE_PATHS = frozenset({"/health", "/ready"})
METRICS_PATH = "/metrics"


def load_api_keys(settings: Settings) -> tuple[bytes, ...]:
    """The configured keys: api_keys (flag or LLAVA_SERVE_API_KEYS) plus api_keys_file's lines."""
    keys = [key.strip() for key in settings.api_keys if key.strip()]
    if settings.api_keys_file is not None:
        keys += _keys_from_file(settings.api_keys_file)
    return tuple(key.encode() for key in keys)


def _keys_from_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"api_keys_file {path} cannot be read: {error.strerror}") from error
    keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not keys:
        raise ConfigError(f"api_keys_file {path} holds no key")
    return keys


def key_matches(offered: bytes, keys: tuple[bytes, ...]) -> bool:
    """Constant-time: every key is compared, whichever matches, so timing tells nothing."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(offered, key)
    return matched


def bearer_token(scope: Scope) -> bytes | None:
    """The token of the first Authorization header, if it uses the Bearer scheme."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" and token.strip() else None
    return None


class ApiKeyMiddleware:
    """Refuses requests without a valid key with 401 in the OpenAI envelope."""

    def __init__(
        self,
        app: ASGIApp,
        keys: tuple[bytes, ...],
        metrics_requires_key: bool,
        open_paths: frozenset[str] = frozenset(),
    ):
        """open_paths: exact paths served without a key besides the probes (the playground's
        page and files: a browser cannot send a key to load a page)."""
        self.app = app
        self._keys = keys
        exempt = PROBE_PATHS | open_paths
        self._exempt = exempt if metrics_requires_key else exempt | {METRICS_PATH}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or scope.get("path") in self._exempt:
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if token is not None and key_matches(token, self._keys):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets: close the handshake
            await send({"type": "websocket.close", "code": 1008})
            return
        message = (
            "Missing API key: send it as 'Authorization: Bearer <key>'."
            if token is None
            else "Incorrect API key provided."
        )
        response = serving_error_response(AuthenticationError(message, code="invalid_api_key"))
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)
