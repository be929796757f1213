"""The `train-demo` and `eval-demo` subcommands: arguments here, work in train.py/evaluate.py
(imported only when the command runs: they need torch and transformers)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEMO_DIR: Final = REPO_ROOT / "model_repo" / "llava-demo"


def add_demo_commands(commands: Any) -> None:
    """Adds the two subparsers to `llava-serve`'s subcommands."""
    train = commands.add_parser("train-demo", help="train the demo model (all stages, on CPU)")
    train.add_argument("--out", type=Path, default=DEMO_DIR, help="model_repo folder to write")
    train.add_argument("--seed", type=int, default=None, help="every RNG's seed (default 3)")
    train.add_argument("--scenes", type=int, default=None, help="training scenes (seeds 0..N-1)")
    for stage in ("encoder", "lm", "stage1", "stage2"):
        train.add_argument(f"--{stage}-steps", type=int, default=None)
    train.add_argument("--learning-rate", type=float, default=None)
    train.add_argument("--stage2-learning-rate", type=float, default=None)
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument(
        "--stage2-weights",
        type=lambda text: tuple(float(part) for part in text.split(",")),
        default=None,
        help="how often stage 2 draws conversation,detail,reasoning batches, e.g. 2,1,2",
    )
    train.add_argument("--position-std", type=float, default=None, help="tower position init")
    train.add_argument("--text-hidden", type=int, default=None, help="decoder width (x head dim)")
    train.add_argument("--text-layers", type=int, default=None, help="decoder layers")
    train.add_argument("--text-head-dim", type=int, default=None, help="decoder head width")
    train.add_argument(
        "--question-first",
        type=float,
        default=None,
        help="share of training rows with the question first (default 1; 0: image first)",
    )
    train.add_argument("--no-ablations", action="store_true", help="skip the ablation runs")
    train.add_argument("--eval-scenes", type=int, default=None)
    train.add_argument(
        "--threads", type=int, default=None, help="torch threads (results depend on it)"
    )
    _add_eval_demo(commands)


def _add_eval_demo(commands: Any) -> None:
    evaluate = commands.add_parser("eval-demo", help="the demo model's accuracy via the API")
    evaluate.add_argument("--base-url", default="http://127.0.0.1:8000")
    evaluate.add_argument("--scenes", type=int, default=300)
    evaluate.add_argument("--seed-base", type=int, default=None, help="first fresh scene seed")
    evaluate.add_argument("--summary", type=Path, default=DEMO_DIR / "training_summary.json")
    evaluate.add_argument("--show-errors", type=int, default=5)
    evaluate.add_argument(
        "--wait", type=float, default=None, help="seconds to wait for /ready (default 300)"
    )
    evaluate.add_argument(
        "--structured",
        action="store_true",
        help="ask for each scene as JSON (a json_schema response_format) instead",
    )


def run_demo_command(args: argparse.Namespace) -> int:
    if args.command == "eval-demo":
        from server.demo.evaluate import eval_demo
        from server.demo.offline_eval import EVAL_SEED_BASE

        seed_base = EVAL_SEED_BASE if args.seed_base is None else args.seed_base
        if args.structured:
            from server.demo.structured_eval import eval_structured

            return eval_structured(args.base_url, args.scenes, seed_base, args.show_errors)
        return eval_demo(
            args.base_url, args.scenes, seed_base, args.summary, args.show_errors, args.wait
        )
    from server.demo.train import TrainConfig, train_demo

    # Every train-demo flag is named after its TrainConfig field; unset ones keep the default.
    given = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(TrainConfig)
        if getattr(args, field.name, None) is not None
    }
    config = TrainConfig(ablations=not args.no_ablations, **given)
    summary = train_demo(config)
    print(json.dumps(summary, indent=2))
    return 0
