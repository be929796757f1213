"""The client libraries people use, unchanged, against the real server: LangChain, LiteLLM and
instructor (run with their own venv, .venv/tools/clients, whose pins need not agree with
vLLM's) and the Node openai SDK (tests/node). Each call is one a user of that library writes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.client_runs import failures, run_client_script
from tests.images import data_url, encode, scene

REPO = Path(__file__).resolve().parent.parent
CLIENTS_PYTHON = REPO / ".venv" / "tools" / "clients" / "bin" / "python"
NODE_DIR = REPO / "tests" / "node"
SETUP_HINT = "scripts/setup.sh installs it"
COLOURS = {"red", "green", "blue"}


def assert_shape(result: dict[str, Any]) -> None:
    assert result["colour"] in COLOURS and isinstance(result["filled"], bool)
    assert 0 <= result["corners"] <= 4


@pytest.fixture(scope="module")
def python_results(base_url: str, model_id: str) -> dict[str, dict[str, Any]]:
    if not CLIENTS_PYTHON.exists():
        pytest.skip(
            f"the client libraries' venv {CLIENTS_PYTHON.parent.parent} is absent; {SETUP_HINT}"
        )
    script = REPO / "tests" / "clients" / "python_clients.py"
    return run_client_script([str(CLIENTS_PYTHON), str(script), base_url, model_id])


def test_every_python_client_call_succeeds(python_results: dict[str, dict[str, Any]]) -> None:
    assert not failures(python_results), failures(python_results)


def test_structured_outputs_through_langchain_litellm_instructor(
    python_results: dict[str, dict[str, Any]],
) -> None:
    for name in (
        "langchain with_structured_output (json_schema)",
        "langchain with_structured_output (function_calling)",
        "litellm response_format (pydantic)",
        "instructor Mode.TOOLS",
        "instructor Mode.JSON_SCHEMA",
    ):
        assert_shape(python_results[name]["result"])


def test_tool_calls_through_langchain_and_litellm(
    python_results: dict[str, dict[str, Any]],
) -> None:
    calls = python_results["langchain bind_tools (tool_choice any)"]["result"]
    assert calls and calls[0]["name"] == "get_weather"
    assert calls[0]["args"]["city"] in ("Paris", "Oslo") and calls[0]["id"].startswith("call_")
    (name, arguments), *_ = python_results["litellm tools (required)"]["result"]
    assert name == "get_weather" and arguments["city"] in ("Paris", "Oslo")


def test_node_openai_sdk(base_url: str, model_id: str) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openai").exists():
        pytest.skip(f"node or the openai package in tests/node is absent; {SETUP_HINT}")
    image = data_url(encode(scene(48, 48, 21)))
    results = run_client_script([node, str(NODE_DIR / "clients.mjs"), base_url, model_id, image])
    assert not failures(results), failures(results)
    assert_shape(results["node json_schema"]["result"])
    streamed = results["node tools (named, streamed)"]["result"]
    assert streamed["first"]["id"].startswith("call_")
    assert streamed["first"]["function"]["name"] == "switch_light"
    assert isinstance(streamed["arguments"]["on"], bool)
    required = results["node tools (required)"]["result"]
    assert required["finish_reason"] == "tool_calls" and required["name"] == "switch_light"
