"""eval-demo's tables (markdown): by model, by evaluation set, by question form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llava_demo.eval_sets import Graded
from llava_demo.forms import question_form
from llava_demo.instructions import RESPONSE_TYPES


def _percent(marks: Sequence[bool]) -> str:
    return f"{100.0 * sum(marks) / len(marks):.1f}" if marks else "-"


def table(rows: dict[str, dict[str, float]]) -> str:
    """One row per model, accuracy (%) per response type and overall."""
    columns = [*RESPONSE_TYPES, "overall"]
    lines = [
        "| model | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{row.get(c, 0.0):.1f}" for c in columns) + " |")
    return "\n".join(lines)


def sets_table(graded: Sequence[Graded]) -> str:
    """One column per evaluation set, one row per response type and overall (%)."""
    sets = list(dict.fromkeys(item.eval_set for item in graded))
    lines = ["| response type | " + " | ".join(sets) + " |", "|---|" + "---:|" * len(sets)]
    for kind in [*RESPONSE_TYPES, "overall"]:
        cells = [
            _percent(
                [
                    item.correct
                    for item in graded
                    if item.eval_set == name and kind in (item.sample.kind, "overall")
                ]
            )
            for name in sets
        ]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def form_table(graded: Sequence[Graded]) -> str:
    """Accuracy by question form, within each response type."""
    marks: dict[tuple[str, str], list[bool]] = {}
    for item in graded:
        marks.setdefault((item.sample.kind, question_form(item.sample)), []).append(item.correct)
    lines = ["| type | question form | right | asked | accuracy |", "|---|---|---:|---:|---:|"]
    for (kind, form), right in sorted(marks.items()):
        lines.append(f"| {kind} | {form} | {sum(right)} | {len(right)} | {_percent(right)} |")
    return "\n".join(lines)


def ablation_rows(summary: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The training summary's offline rows other than the full data's (none without one)."""
    offline = summary.get("offline_accuracy", {})
    return {
        f"{name} (torch, at training)": row for name, row in offline.items() if name != "full data"
    }
