"""`python -m llava_demo eval` waits for the server's /ready and says plainly when it never
comes, instead of failing with a traceback on the first 503 of a server still loading its
model; its base URL may end in /v1 as the OpenAI clients' does."""

from __future__ import annotations

import pytest

from llava_demo.cli import main
from llava_demo.evaluate import api_root, eval_demo
from tests.support.servers import free_port


def test_an_unreachable_server_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    status = eval_demo(url, 3, 1_000_000, {}, 0, wait_s=0.3)
    err = capsys.readouterr().err
    assert status == 1
    assert f"{url} was not ready within 0.3 s" in err
    assert "ConnectError" in err


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_the_base_url_may_end_in_v1(suffix: str) -> None:
    assert api_root("http://127.0.0.1:8000" + suffix) == "http://127.0.0.1:8000"


def test_a_v1_url_is_waited_on_at_the_server_root(capsys: pytest.CaptureFixture[str]) -> None:
    root = f"http://127.0.0.1:{free_port()}"
    status = eval_demo(f"{root}/v1", 3, 1_000_000, {}, 0, wait_s=0.2)
    assert status == 1
    assert f"{root} was not ready" in capsys.readouterr().err


def test_the_command_lists_train_and_eval(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "train" in out and "eval" in out
