"""The command line explains itself: every flag with its help and default, --flag/--no-flag for
on/off settings, and start-up mistakes (an unknown model, a port in use, a misspelt variable)
reported at once in plain words, before vLLM is imported."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from server.cli import _parser, _settings, main
from server.logging_setup import resolved_format
from server.settings import Settings, unknown_env_settings

ROOT = Path(__file__).resolve().parent.parent
# Runs the CLI and says on stdout whether vLLM got imported: these failures must come first.
PROBE = (
    "import sys\n"
    "from server.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "finally:\n"
    "    print('vllm imported' if 'vllm' in sys.modules else 'vllm not imported')\n"
)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLAVA_SERVE_")}
    command = [sys.executable, "-c", PROBE, *args]
    return subprocess.run(
        command, cwd=ROOT, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120
    )


def test_every_serve_flag_shows_its_help_and_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        assert field.description, f"{name} has no help text"
        assert flag in text
        assert f"env LLAVA_SERVE_{name.upper()})" in text
    assert text.count("(default: ") == len(Settings.model_fields)
    assert "--playground, --no-playground" in text
    assert "--log-format {auto,json,text}" in text


def test_on_off_settings_are_flag_and_no_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAVA_SERVE_PLAYGROUND", raising=False)
    parse = _parser().parse_args
    assert _settings(parse(["serve", "--no-playground"])).playground is False
    assert _settings(parse(["serve", "--playground"])).playground is True
    assert _settings(parse(["serve"])).playground is True  # the default
    monkeypatch.setenv("LLAVA_SERVE_PLAYGROUND", "false")
    assert _settings(parse(["serve"])).playground is False  # unset flag: the variable applies


def test_an_unknown_model_names_the_closest_entries_before_vllm_loads() -> None:
    done = run_cli("serve", "--model", "llava-dem")
    assert done.returncode == 1
    assert "did you mean llava-demo" in done.stderr
    assert done.stdout.strip() == "vllm not imported"


def test_a_hub_id_names_the_entry_that_serves_it() -> None:
    done = run_cli("serve", "--model", "llava-hf/llava-1.5-7b-hf")
    assert done.returncode == 1
    assert "--model llava-1.5-7b-hf" in done.stderr
    assert done.stdout.strip() == "vllm not imported"


def test_a_port_in_use_is_one_plain_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", "--model", "tiny-llava-hf", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"llava-serve: port {port} on 127.0.0.1 is already in use (another server?); "
        "choose another with --port or LLAVA_SERVE_PORT"
    ]
    assert done.stdout.strip() == "vllm not imported"


def test_a_misspelt_variable_is_named_with_the_closest_setting() -> None:
    environ = {"LLAVA_SERVE_MODLE": "x", "LLAVA_SERVE_PORT": "9000", "LLAVA_SERVE_ZZZ": "1"}
    assert unknown_env_settings(environ) == [
        "LLAVA_SERVE_MODLE is not a setting and is ignored; did you mean LLAVA_SERVE_MODEL?",
        "LLAVA_SERVE_ZZZ is not a setting and is ignored",
    ]
    done = run_cli("serve", "--model", "llava-dem", env={"LLAVA_SERVE_MAX_RUNING_REQUESTS": "2"})
    assert (
        "llava-serve: warning: LLAVA_SERVE_MAX_RUNING_REQUESTS is not a setting and is ignored; "
        "did you mean LLAVA_SERVE_MAX_RUNNING_REQUESTS?"
    ) in done.stderr


def test_log_format_auto_is_text_on_a_terminal_and_json_otherwise() -> None:
    assert Settings.model_fields["log_format"].default == "auto"
    assert resolved_format("auto", io.StringIO()) == "json"
    primary, secondary = os.openpty()
    with open(secondary, "w") as terminal:
        assert resolved_format("auto", terminal) == "text"
        assert resolved_format("json", terminal) == "json"
    os.close(primary)
