"""The `llava-serve` command: `serve` a model over HTTP, `pull` a model's checkpoint to disk.
(The demo model is trained and measured by `python -m llava_demo`, outside the server.)"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from server.errors import ConfigError
from server.listener import bind_listener
from server.model_repo import resolve_model
from server.model_store import ensure_local
from server.settings import ENV_PREFIX, Settings, unknown_env_settings


def _shown_default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None or value == []:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def _choices(annotation: Any) -> list[str] | None:
    """The values of a Literal setting (shown and checked by argparse)."""
    if typing.get_origin(annotation) is typing.Literal:
        return [str(value) for value in typing.get_args(annotation)]
    return None


def _add_setting_flags(parser: argparse.ArgumentParser, names: list[str] | None = None) -> None:
    """One flag per setting, its help ending with the default and the variable that also sets
    it. Unset flags stay None, so LLAVA_SERVE_* variables, then the defaults, apply."""
    for name in names or list(Settings.model_fields):
        field = Settings.model_fields[name]
        flag = "--" + name.replace("_", "-")
        env = ENV_PREFIX + name.upper()
        text = f"{field.description or ''} (default: {_shown_default(field)}; env {env})"
        if field.annotation is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, help=text)
            continue
        choices = _choices(field.annotation)
        metavar = None if choices else _metavar(field.annotation)
        parser.add_argument(flag, dest=name, choices=choices, metavar=metavar, help=text)


def _metavar(annotation: Any) -> str:
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    if typing.get_origin(annotation) is list:
        return "A,B,..."  # comma-separated (or a JSON list)
    names = {int: "N", float: "X", Path: "PATH"}
    return names.get(annotation, "TEXT")


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
    serve = commands.add_parser(
        "serve", help="serve a model over the OpenAI API", description="Serve a model."
    )
    _add_setting_flags(serve)
    pull = commands.add_parser(
        "pull",
        help="make a model's checkpoint present; print its paths",
        description="Build or download a model's checkpoint; print its local paths as JSON.",
    )
    pull.add_argument("model", help="a model_repo entry name, or a folder with model.yaml")
    _add_setting_flags(pull, ["model_repo", "home"])
    return parser


def _run(args: argparse.Namespace) -> int:
    for warning in unknown_env_settings(os.environ):
        print(f"llava-serve: warning: {warning}", file=sys.stderr)
    settings = _settings(args)
    # Both fail in a second, before vLLM is imported: an unknown model, a port in use.
    spec = resolve_model(settings.model, settings.model_repo)
    if args.command == "pull":
        print(json.dumps(ensure_local(spec, settings.home).as_json()))
        return 0
    listener = bind_listener(settings.host, settings.port)
    from server.serve import serve  # imports vLLM: only for the command that needs it

    return serve(settings, spec, listener)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        sys.exit(_run(args))
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
