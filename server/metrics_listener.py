"""The metrics port (`metrics_port`): the same Prometheus exposition as /metrics, on a port of
its own, served by prometheus_client's threaded HTTP server beside the API. It never asks for an
API key, so Prometheus and the autoscaler's metrics adapter keep scraping when keys are on;
expose it only to the monitoring network (the Kubernetes Service and NetworkPolicy do)."""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

from server.errors import ConfigError

logger = logging.getLogger(__name__)


def start_metrics_listener(host: str, port: int) -> None:
    """Listens until the process exits (a daemon thread): scrapes go on during a drain."""
    try:
        start_http_server(port, addr=host)
    except OSError as error:
        raise ConfigError(f"metrics_port {port}: cannot listen on {host}: {error}") from error
    logger.info("metrics at http://%s:%d/metrics", host, port)
