"""The `llava-serve` command: `serve` a model over HTTP, `pull` a model's checkpoint to disk.
(The demo model is trained and measured by `python -m llava_demo`, outside the server.)"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from pydantic import ValidationError

from server.errors import ConfigError
from server.model_repo import resolve_model
from server.model_store import ensure_local
from server.settings import Settings


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per setting; unset flags fall back to LLAVA_SERVE_* variables, then defaults."""
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, dest=name, default=None, help=field.description)


def _settings(args: argparse.Namespace) -> Settings:
    given = {
        name: value
        for name in Settings.model_fields
        if (value := getattr(args, name, None)) is not None
    }
    return Settings(**given)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llava-serve", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a model over the OpenAI API")
    _add_setting_flags(serve)
    pull = commands.add_parser("pull", help="make a model's checkpoint present; print its paths")
    pull.add_argument("model", help="model_repo entry name, or a folder with model.yaml")
    for name in ("model_repo", "home"):
        pull.add_argument("--" + name.replace("_", "-"), dest=name, default=None)
    return parser


def _pull(settings: Settings) -> dict[str, Any]:
    spec = resolve_model(settings.model, settings.model_repo)
    return ensure_local(spec, settings.home).as_json()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
        if args.command == "pull":
            print(json.dumps(_pull(settings)))
            return
        from server.serve import serve  # imports vLLM: only for the command that needs it

        sys.exit(serve(settings))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        sys.exit(f"llava-serve: invalid setting: {problems}")
    except ConfigError as error:
        sys.exit(f"llava-serve: {error}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
