"""`eval-demo` waits for the server's /ready and says plainly when it never comes, instead of
failing with a traceback on the first 503 of a server that is still loading its model."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from server.demo.evaluate import eval_demo


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens on it once the probe is closed


def test_an_unreachable_server_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    status = eval_demo(url, 3, 1_000_000, tmp_path / "none.json", 0, wait_s=1.5)
    err = capsys.readouterr().err
    assert status == 1
    assert f"{url} was not ready within 1.5 s" in err
    assert "ConnectError" in err
