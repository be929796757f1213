"""README's settings table lists every setting of server/settings.py, once, with its default."""

from __future__ import annotations

import re
from pathlib import Path

from server.settings import REPO_MODEL_DIR, Settings

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| `(?P<name>[a-z_]+)` \| (?P<default>[^|]+) \|")


def readme_settings(readme: str) -> dict[str, str]:
    """setting -> its README default cell, from the table of the "## Settings" section."""
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [match for line in section.splitlines() if (match := ROW.match(line))]
    names = [row["name"] for row in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"README lists these settings twice: {duplicates}"
    return {row["name"]: row["default"].strip() for row in rows}


def documented_default(value: object) -> str | None:
    """How README writes a default in backticks; None for an unset one (a list or None), which
    README describes in words instead ("none", "the entry's name")."""
    if value is None or value == []:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Path):
        if value == REPO_MODEL_DIR:
            return "./model_repo"
        return "~/" + str(value.relative_to(Path.home()))
    return str(value)


def test_every_setting_is_in_the_readme_table_with_its_default() -> None:
    documented = readme_settings((ROOT / "README.md").read_text(encoding="utf-8"))
    fields = Settings.model_fields
    assert sorted(documented) == sorted(fields), (
        f"missing from README: {sorted(set(fields) - set(documented))}; "
        f"not settings: {sorted(set(documented) - set(fields))}"
    )
    for name, field in fields.items():
        expected = documented_default(field.default)
        cell = documented[name]
        if expected is None:
            assert not cell.startswith("`"), f"{name}: unset by default, README says {cell}"
        else:
            assert cell == f"`{expected}`", f"{name}: default {expected!r}, README says {cell}"


def test_the_table_reader_sees_rows_and_duplicates() -> None:
    readme = (
        "# x\n\n## Settings\n\n| setting | default | meaning |\n|---|---|---|\n"
        "| `port` | `8000` | where |\n| `api_keys` | none | keys |\n\n## Next\n| `host` | `x` |\n"
    )
    assert readme_settings(readme) == {"port": "`8000`", "api_keys": "none"}
