"""The client libraries people use, unchanged, against the real server: LangChain (on chat
completions and, with use_responses_api, on /v1/responses), LiteLLM, instructor and OpenAI's
Agents SDK (a function-tool agent on /v1/responses, run and streamed), run with their own venv
(.venv/tools/clients, whose pins need not agree with vLLM's), and the Node openai SDK
(tests/node). Each call is one a user of that library writes."""

from __future__ import annotations

import json
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
CITIES = ("Paris", "Oslo")


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


def assert_weather_call(call: dict[str, Any]) -> None:
    """A LangChain tool call: the declared function, a valid city, chat's call id."""
    assert call["name"] == "get_weather" and set(call["args"]) == {"city"}
    assert call["args"]["city"] in CITIES and call["id"].startswith("call_")


def test_responses_api_through_langchain(python_results: dict[str, dict[str, Any]]) -> None:
    answer = python_results["langchain responses invoke (image)"]["result"]
    assert answer["text"] and answer["status"] in ("completed", "incomplete")
    # The image's tokens are in the prompt: the model saw it.
    assert answer["input_tokens"] > answer["input_tokens_without_image"]
    for name in (
        "langchain responses bind_tools (named)",
        "langchain responses bind_tools (any, streamed)",
    ):
        calls = python_results[name]["result"]
        assert len(calls) == 1, calls
        assert_weather_call(calls[0])


def assert_agent_run(result: dict[str, Any]) -> None:
    """The model called the tool with a valid city, the SDK ran it and sent the result back,
    and the second response's answer is the run's final output."""
    call, output, answer = result["items"]
    assert call["type"] == "tool_call_item" and call["name"] == "get_weather"
    assert set(call["arguments"]) == {"city"} and call["arguments"]["city"] in CITIES
    assert call["id"].startswith("call_")
    assert output == {
        "type": "tool_call_output_item",
        "output": f"sunny in {call['arguments']['city']}",
        "id": call["id"],
    }
    assert answer["type"] == "message_output_item"
    assert json.loads(answer["text"]) == result["final_output"]
    assert result["final_output"]["sky"] in ("sunny", "rainy") and result["responses"] == 2


def test_responses_api_through_the_agents_sdk(python_results: dict[str, dict[str, Any]]) -> None:
    assert_agent_run(python_results["agents Runner.run_sync (function tool)"]["result"])
    streamed = python_results["agents Runner.run_streamed (function tool)"]["result"]
    assert_agent_run(streamed)
    assert streamed["complete"]
    events = streamed["events"]
    # Both responses streamed to their terminal event, and the SDK built its items from them.
    assert events.count("response.created") == events.count("response.completed") == 2
    assert "response.function_call_arguments.done" in events
    assert "response.output_text.done" in events
    run_items = [event for event in events if event.startswith("run_item_stream_event:")]
    assert run_items == [
        "run_item_stream_event:tool_called",
        "run_item_stream_event:tool_output",
        "run_item_stream_event:message_output_created",
    ]
    # The tool ran between the two responses: its result went into the second request.
    second_response = [at for at, event in enumerate(events) if event == "response.created"][1]
    assert events.index("run_item_stream_event:tool_output") < second_response


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
