"""Runs a client script in its own runtime (another venv, Node) and reads its JSON lines."""

from __future__ import annotations

import json
import subprocess
from typing import Any

# The clients call a slow CPU model many times, each with constrained decoding.
CLIENT_RUN_TIMEOUT_S = 1200


def run_client_script(command: list[str]) -> dict[str, dict[str, Any]]:
    """{call name: {"ok", "result", "error"}}; the script's stderr is shown on failure."""
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=CLIENT_RUN_TIMEOUT_S, check=False
    )
    results = {}
    for line in finished.stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            results[entry["call"]] = entry
    assert finished.returncode == 0 and results, finished.stderr[-4000:]
    return results


def failures(results: dict[str, dict[str, Any]]) -> list[str]:
    return [f"{name}: {entry.get('error')}" for name, entry in results.items() if not entry["ok"]]
