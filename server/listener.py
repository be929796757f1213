"""The listening socket, bound before anything slow starts: a port already in use is reported
at once, in one plain line, instead of after vLLM has loaded the model."""

from __future__ import annotations

import errno
import socket

from server.errors import ConfigError


def bind_listener(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, as uvicorn binds one (SO_REUSEADDR, IPv6 for a host with
    ':'); uvicorn listens on it. ConfigError if the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigError(_bind_failure(host, port, error)) from error
    return sock


def _bind_failure(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another server?); "
            "choose another with --port or LLAVA_SERVE_PORT"
        )
    if error.errno == errno.EACCES:
        return f"no permission to listen on port {port} (ports below 1024 need privileges)"
    return f"cannot listen on {host}:{port}: {error.strerror or error}"
