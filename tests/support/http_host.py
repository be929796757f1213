"""A plain HTTP server on loopback, in a thread, for tests that need a host to fetch from."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

# How often serve_forever looks for shutdown(): its default (0.5 s) is what every teardown
# would wait.
POLL_INTERVAL_S = 0.02


@contextlib.contextmanager
def http_host(handler: Callable[..., Any]) -> Iterator[str]:
    """Serves with `handler` (a BaseHTTPRequestHandler class or factory); yields the base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(POLL_INTERVAL_S,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
