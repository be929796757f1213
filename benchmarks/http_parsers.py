"""`python -m benchmarks.http_parsers`: what the cap on request headers costs. The same trivial
ASGI app behind uvicorn with three HTTP parsers: httptools as uvicorn ships it (no header
limit), httptools with our cap (server/api/http_protocol.py, what `llava-serve serve` runs),
and h11 (uvicorn's other parser, which has a limit of its own). Each server is its own process;
a raw-socket client (cheap, so the server's parsing is what is measured) sends keep-alive
requests with the headers the OpenAI Python SDK sends, in A-B-C-C-B-A order; the table gives
the median requests per second and the ratio to stock httptools."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.servers import free_port, machine_description

PARSERS = {
    "httptools (uvicorn's, no header limit)": "httptools",
    "httptools with the header cap (llava-serve)": "capped",
    "h11 (uvicorn's, limit built in)": "h11",
}
# As the OpenAI Python SDK sends them, with a bearer key: about 600 bytes.
HEADERS = (
    "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip, deflate\r\n"
    "Connection: keep-alive\r\nAccept: application/json\r\nContent-Type: application/json\r\n"
    "User-Agent: OpenAI/Python 3.63.0\r\nX-Stainless-Lang: python\r\n"
    "X-Stainless-Package-Version: 3.63.0\r\nX-Stainless-OS: Linux\r\nX-Stainless-Arch: x64\r\n"
    "X-Stainless-Runtime: CPython\r\nX-Stainless-Runtime-Version: 3.11.7\r\n"
    "Authorization: Bearer sk-0123456789abcdef0123456789abcdef\r\n"
    "X-Stainless-Async: false\r\nX-Stainless-Retry-Count: 0\r\nX-Stainless-Read-Timeout: 600\r\n"
)
BODY = b'{"model": "m", "messages": [{"role": "user", "content": "Hello!"}]}'
REQUEST = f"{HEADERS}Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY
SECTION = """## HTTP parsers: what the header cap costs

`python -m benchmarks.http_parsers`: the cap on request line and headers (64 KiB, answered 431;
`server/api/http_protocol.py`) is a subclass of uvicorn's httptools protocol that counts header
bytes per chunk. The same trivial app behind three parsers, each server on one core and a
raw-socket client on the other (cheap, so parsing is what is measured), requests with the
headers the OpenAI Python SDK sends, A-B-C-C-B-A:

{table}

The cap adds one counter update per received chunk. Repeated runs of this command on a shared
2-core machine move by about 10 %, so a ratio within that is no measurable cost. The other way
to a header limit, uvicorn's h11 parser, is the third row.
"""
SERVER = """
import sys, uvicorn
from server.api.http_protocol import HeaderCappedHttpToolsProtocol

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"12")]})
    await send({"type": "http.response.body", "body": b'{"ok": true}'})

parser, port = sys.argv[1], int(sys.argv[2])
http = HeaderCappedHttpToolsProtocol if parser == "capped" else parser
uvicorn.run(app, host="127.0.0.1", port=port, http=http, log_level="warning", access_log=False)
"""


async def _connection(port: int, requests: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(requests):
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
    writer.close()


async def _load(port: int, connections: int, requests: int) -> float:
    started = time.perf_counter()
    per_connection = requests // connections
    await asyncio.gather(*(_connection(port, per_connection) for _ in range(connections)))
    return per_connection * connections / (time.perf_counter() - started)


def _start(parser: str, port: int, core: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, "-c", SERVER, parser, str(port)],
        cwd=Path(__file__).resolve().parent.parent,
    )


def _wait_up(port: int) -> None:
    for _ in range(200):
        try:
            asyncio.run(_load(port, 1, 1))
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no server on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50_000, help="per run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7, help="A-B-C-C-B-A rounds")
    parser.add_argument("--out", type=Path, default=Path("docs/bench/http-parsers.md"))
    args = parser.parse_args()
    # The servers on one core, this client on another: each side has a core to itself.
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})
    ports = {name: free_port() for name in PARSERS}
    servers = [_start(PARSERS[name], port, cores[-1]) for name, port in ports.items()]
    try:
        for port in ports.values():
            _wait_up(port)
        rates: dict[str, list[float]] = {name: [] for name in PARSERS}
        names = list(PARSERS)
        for round_index in range(args.repeats):
            order = names if round_index % 2 == 0 else names[::-1]
            for name in order:
                rates[name].append(asyncio.run(_load(ports[name], args.connections, args.requests)))
    finally:
        for server in servers:
            server.terminate()
    section = SECTION.format(table=_table(rates, args))
    print(section)
    args.out.write_text(section)


def _table(rates: dict[str, list[float]], args: argparse.Namespace) -> str:
    baseline = statistics.median(next(iter(rates.values())))
    lines = [
        f"{args.requests} keep-alive requests per run over {args.connections} connections, "
        f"median of {args.repeats} runs; {len(REQUEST)}-byte requests. "
        f"Machine: {machine_description()}",
        "",
        "| parser | requests/s | ratio |",
        "|---|---:|---:|",
    ]
    for name, values in rates.items():
        rate = statistics.median(values)
        lines.append(f"| {name} | {rate:,.0f} | {rate / baseline:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
