"""The house rule no linter checks: no function longer than 45 lines (ruff, mypy and codespell
run in `make lint` and pre-commit)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("server", "tests", "benchmarks")
MAX_LINES = 45


def function_lengths(path: Path) -> list[tuple[str, int]]:
    """(name, lines from `def` to the last line) of every function and method in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.name, (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_no_function_is_longer_than_45_lines() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}: {name} ({lines} lines)"
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "node_modules" not in path.parts  # npm packages set-up installs for the tests
        for name, lines in function_lengths(path)
        if lines > MAX_LINES
    ]
    assert not too_long, "\n".join(too_long)


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    sample = tmp_path / "sample.py"
    sample.write_text(f"def short():\n    pass\n\n\ndef long():\n{body}")
    assert function_lengths(sample) == [("short", 2), ("long", MAX_LINES + 1)]
