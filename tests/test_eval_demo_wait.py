"""`eval-demo` waits for the server's /ready and says plainly when it never comes, instead of
failing with a traceback on the first 503 of a server that is still loading its model."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.demo.evaluate import eval_demo
from tests.support.servers import free_port


def test_an_unreachable_server_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    status = eval_demo(url, 3, 1_000_000, tmp_path / "none.json", 0, wait_s=1.5)
    err = capsys.readouterr().err
    assert status == 1
    assert f"{url} was not ready within 1.5 s" in err
    assert "ConnectError" in err
