"""Measures what one hostile request costs everyone else on a running server: the longest
/health answer while it is handled, its own time and status, and the API process's memory
before, at the end, and a few seconds after.

    python scripts/stall_probe.py http://127.0.0.1:8000 <api pid> large-text [messages]
    python scripts/stall_probe.py http://127.0.0.1:8000 <api pid> big-header [MiB]

large-text: user messages (160 unless given) of "word " x 40000 (200 kB each, 31 MB in all);
big-header: GET /v1/models with an X-Big header of 128 MiB unless given. A measurement for
the docs and reviews, not a test (it times things)."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

import httpx
import psutil

HEALTH_EVERY_S = 0.05
SETTLE_S = 5.0


def _large_text(url: str, messages: int) -> bytes:
    model = httpx.get(f"{url}/v1/models", timeout=60).json()["data"][0]["id"]
    message = {"role": "user", "content": "word " * 40000}
    body = json.dumps({"model": model, "messages": [message] * messages, "max_tokens": 1}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def _big_header(url: str, mib: int) -> bytes:
    big = b"a" * (mib * 1024 * 1024)
    head = f"GET /v1/models HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\nConnection: close\r\n"
    return head.encode() + b"X-Big: " + big + b"\r\n\r\n"


def _send(url: str, payload: bytes, result: dict[str, object]) -> None:
    parts = urlsplit(url)
    started = time.monotonic()
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=600) as sock:
            sock.sendall(payload)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        result["status"] = data.split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError as error:
        result["status"] = f"{type(error).__name__}: {error}"
    result["seconds"] = round(time.monotonic() - started, 2)


def main() -> None:
    url, pid, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    process = psutil.Process(pid)
    if kind == "large-text":
        payload = _large_text(url, int(sys.argv[4]) if len(sys.argv) > 4 else 160)
    else:
        payload = _big_header(url, int(sys.argv[4]) if len(sys.argv) > 4 else 128)
    rss_before = process.memory_info().rss
    result: dict[str, object] = {}
    sender = threading.Thread(target=_send, args=(url, payload, result))
    sender.start()
    worst = 0.0
    while sender.is_alive():
        started = time.monotonic()
        httpx.get(f"{url}/health", timeout=600)  # a new connection each time, as a probe makes
        worst = max(worst, time.monotonic() - started)
        time.sleep(HEALTH_EVERY_S)
    rss_end = process.memory_info().rss
    time.sleep(SETTLE_S)
    rss_after = process.memory_info().rss
    mib = 1024 * 1024
    print(
        json.dumps(
            {
                "kind": kind,
                "hostile_request": result,
                "worst_health_s": round(worst, 3),
                "rss_mib_before": rss_before // mib,
                "rss_mib_at_end": rss_end // mib,
                "rss_mib_after_settle": rss_after // mib,
            }
        )
    )


if __name__ == "__main__":
    main()
