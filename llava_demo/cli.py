"""`python -m llava_demo train|eval|probe|distil` (`make train-demo` / `make eval-demo`):
arguments here, work in train.py/evaluate.py/tower_probe.py/tower_distil.py (imported only
when the command runs: they need torch)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llava_demo.eval_sets import TrainedOn
from llava_demo.instructions import STAGE2_KINDS
from llava_demo.paths import DEMO_DIR
from llava_demo.scenes import EVAL_SEED_BASE


def _add_train_command(commands: Any) -> None:
    train = commands.add_parser(
        "train",
        help="train the demo model (all stages, on CPU)",
        description="Unset flags keep the recipe's values (llava_demo/config.py).",
    )
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
        help=f"stage 2 batches of {','.join(STAGE2_KINDS)}, by weight, e.g. 2,1,2,1,0.5",
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
    train.add_argument(
        "--pictures", choices=("varied", "plain"), default=None, help="training pictures"
    )
    train.add_argument(
        "--phrasings", choices=("varied", "canonical"), default=None, help="training questions"
    )
    train.add_argument(
        "--init",
        type=Path,
        default=None,
        help="continue from this checkpoint folder: stage 2 only, on this run's data",
    )
    train.add_argument("--no-ablations", action="store_true", help="skip the ablation runs")
    train.add_argument("--eval-scenes", type=int, default=None)
    train.add_argument(
        "--threads", type=int, default=None, help="torch threads (results depend on it)"
    )


def _add_eval_command(commands: Any) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="the served demo model's accuracy via the API",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    evaluate.add_argument(
        "--base-url",
        default="http://127.0.0.1:8000",
        help="the server, with or without a trailing /v1",
    )
    evaluate.add_argument("--scenes", type=int, default=300, help="fresh scenes to ask about")
    evaluate.add_argument(
        "--seed-base",
        type=int,
        default=EVAL_SEED_BASE,
        help="first fresh scene seed (training uses 0 up)",
    )
    evaluate.add_argument(
        "--summary",
        type=Path,
        default=DEMO_DIR / "training_summary.json",
        help="the model's training summary: what it learnt from, and its ablation rows",
    )
    evaluate.add_argument("--show-errors", type=int, default=5, help="wrong answers to print")
    evaluate.add_argument(
        "--wait", type=float, default=300.0, help="seconds to wait for the server's /ready"
    )
    evaluate.add_argument(
        "--structured",
        action="store_true",
        help="ask for each scene as JSON (a json_schema response_format) instead",
    )
    evaluate.add_argument(
        "--pictures",
        choices=("varied", "plain"),
        default=None,
        help="the pictures the model learnt from (default: as --summary says, else varied)",
    )
    evaluate.add_argument(
        "--phrasings",
        choices=("varied", "canonical"),
        default=None,
        help="the phrasings the model learnt (default: as --summary says, else varied)",
    )


def _add_probe_command(commands: Any) -> None:
    probe = commands.add_parser(
        "probe",
        help="what a vision tower's features tell about each cell (a linear probe)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    probe.add_argument("--tower", type=Path, default=DEMO_DIR / "tower", help="tower folder")
    probe.add_argument("--train-scenes", type=int, default=3000, help="probe fitted on these")
    probe.add_argument("--scenes", type=int, default=500, help="fresh scenes per renderer")


def _add_distil_command(commands: Any) -> None:
    distil = commands.add_parser(
        "distil",
        help="teach a checkpoint's tower to see varied pictures as it sees plain ones",
        description="Unset flags keep llava_demo/tower_distil.py's DistilConfig values.",
    )
    distil.add_argument("--init", type=Path, required=True, help="checkpoint folder (teacher)")
    distil.add_argument("--out", type=Path, required=True, help="folder to write (and OUT-hf)")
    for name in ("scenes", "first-scene", "styles", "steps", "seed", "extra-layers", "mlp-width"):
        distil.add_argument(f"--{name}", type=int, default=None)
    distil.add_argument("--learning-rate", type=float, default=None)
    distil.add_argument("--batch-size", type=int, default=None)
    distil.add_argument("--threads", type=int, default=None, help="torch threads")
    distil.add_argument("--eval-scenes", type=int, default=None, help="offline, per renderer")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m llava_demo",
        description="Train the demo model, or measure the served one through the API.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_train_command(commands)
    _add_eval_command(commands)
    _add_probe_command(commands)
    _add_distil_command(commands)
    return parser


def _evaluate(args: argparse.Namespace) -> int:
    from llava_demo.evaluate import api_root, eval_demo

    summary = _training_summary(args)
    trained = _asked_as_trained(args, summary)
    print(
        f"Own generator and follow-up turns: {trained.pictures} pictures, {trained.phrasings}"
        f" phrasings (training summary: {args.summary})",
        file=sys.stderr,
    )
    if args.structured:
        from llava_demo.structured_eval import eval_structured

        base_url = api_root(args.base_url)
        return eval_structured(
            base_url, args.scenes, args.seed_base, args.show_errors, trained.pictures
        )
    return eval_demo(
        args.base_url,
        args.scenes,
        args.seed_base,
        summary,
        args.show_errors,
        args.wait,
        trained,
    )


def _training_summary(args: argparse.Namespace) -> dict[str, Any]:
    """The model's training summary, read once: what it learnt from, and its ablation rows.
    Without it the sets would ask in the recipe's varied data, which a checkpoint trained on
    plain pictures never saw: refused rather than guessed, unless the flags say it all."""
    if args.summary.is_file():
        summary: dict[str, Any] = json.loads(args.summary.read_text())
        return summary
    if args.pictures and args.phrasings:
        return {}
    raise SystemExit(
        f"eval-demo: no training summary at {args.summary}. Give the model folder's"
        " training_summary.json as --summary, or say what it learnt from with --pictures"
        " and --phrasings."
    )


def _asked_as_trained(args: argparse.Namespace, summary: Mapping[str, Any]) -> TrainedOn:
    """The own-generator and follow-up sets ask in what the model learnt from: the flags, else
    its training summary."""
    if args.pictures and args.phrasings:
        return TrainedOn(args.pictures, args.phrasings)
    learnt = learnt_from(summary)
    return TrainedOn(args.pictures or learnt.pictures, args.phrasings or learnt.phrasings)


def trained_on(summary: Path) -> TrainedOn:
    """What the run whose training summary is at `summary` learnt from."""
    return learnt_from(json.loads(summary.read_text()))


def learnt_from(summary: Mapping[str, Any]) -> TrainedOn:
    """What a training summary's run learnt from (runs before the choices: varied)."""
    config = summary["config"]
    return TrainedOn(config.get("pictures", "varied"), config.get("phrasings", "varied"))


def _given(args: argparse.Namespace, settings: type) -> dict[str, Any]:
    """The flags that were given, by field: every flag is named after its settings class's
    field; unset ones keep the class's default."""
    return {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(settings)
        if getattr(args, field.name, None) is not None
    }


def _train(args: argparse.Namespace) -> int:
    from llava_demo.config import TrainConfig
    from llava_demo.train import train_demo

    given = _given(args, TrainConfig)
    if args.init is not None and not args.no_ablations:
        raise SystemExit("--init trains stage 2 alone, without ablations: add --no-ablations")
    config = TrainConfig(ablations=not args.no_ablations, **given)
    summary = train_demo(config)
    print(json.dumps(summary, indent=2))
    return 0


def _probe(args: argparse.Namespace) -> int:
    from llava_demo.tower_probe import RENDERERS, probe_tower

    table = probe_tower(args.tower, args.train_scenes, args.scenes)
    print(f"Occupied cells named right by a linear probe on {args.tower} (%):")
    print("| attribute | " + " | ".join(RENDERERS) + " |")
    print("|---|" + "---:|" * len(RENDERERS))
    for attribute, row in table.items():
        print(f"| {attribute} | " + " | ".join(f"{row[name]:.1f}" for name in RENDERERS) + " |")
    return 0


def _distil(args: argparse.Namespace) -> int:
    from llava_demo.loss_log import LossLog
    from llava_demo.tower_distil import DistilConfig, distil_checkpoint
    from llava_demo.tower_probe import RENDERERS

    config = DistilConfig(**_given(args, DistilConfig))
    config.out.mkdir(parents=True, exist_ok=True)
    summary = distil_checkpoint(config, LossLog(config.out / "tower_log.jsonl"), RENDERERS)
    print(json.dumps(summary["tower_offline_accuracy"], indent=2))
    return 0


COMMANDS = {"train": _train, "eval": _evaluate, "probe": _probe, "distil": _distil}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args)
