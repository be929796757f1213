"""`python -m benchmarks.structured`: the cost of constrained decoding, on vLLM's own server
and on llava-serve, same checkpoint, same requests: workload e (a 64x64 PNG and a question per
request, 32 tokens out) unconstrained, and the same under a json_schema response_format.

The schema asks for a list of 64 colour and shape words, so no answer completes within the 32
tokens every request generates (`ignore_eos`, as the main benchmark): both variants produce
exactly as many tokens, and the difference is what the grammar costs per token (the backend's
token bitmask each step, on the engine's side, xgrammar or llguidance as model.yaml says), plus
compiling it once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from vllm.tokenizers import get_tokenizer

from benchmarks.run import measure_cells
from benchmarks.servers import machine_description, model_under_test, start_both
from benchmarks.workloads import Workload, data_url, small_png
from benchmarks.workloads import _question as question
from benchmarks.workloads import _request as sample_request

WORDS_SCHEMA = {
    "type": "object",
    "properties": {
        "words": {
            "type": "array",
            "items": {"enum": ["red", "green", "blue", "circle", "square", "triangle"]},
            "minItems": 64,
            "maxItems": 64,
        }
    },
    "required": ["words"],
    "additionalProperties": False,
}
JSON_SCHEMA_BODY = {
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "words", "schema": WORDS_SCHEMA, "strict": True},
    }
}


def structured_workloads(count: int, concurrencies: list[int]) -> list[Workload]:
    requests = [
        sample_request(question(i), data_url(small_png(i), "image/png")) for i in range(count)
    ]
    return [
        Workload("e-unconstrained", "64x64 PNG, 32 tokens out, free text", requests, concurrencies),
        Workload(
            "e-json-schema",
            "the same, under a json_schema response_format",
            requests,
            concurrencies,
            extra_body=JSON_SCHEMA_BODY,
        ),
    ]


def ratios(runs: dict[str, dict[str, list[Any]]]) -> str:
    """Per server and concurrency: json_schema / unconstrained for throughput and TPOT."""
    lines = [
        "| server | conc. | req/s free / json (ratio) | TPOT p50 ms free / json (ratio) "
        "| TTFT p50 ms free / json (ratio) |",
        "|---|---|---|---|---|",
    ]
    for server in ("vllm", "llava-serve"):
        free_runs, json_runs = runs["e-unconstrained"][server], runs["e-json-schema"][server]
        for free, constrained in zip(free_runs, json_runs, strict=True):
            cells = [
                f"{free[key]:.1f} / {constrained[key]:.1f} ({constrained[key] / free[key]:.2f}x)"
                for key in ("request_throughput", "median_tpot_ms", "median_ttft_ms")
            ]
            lines.append(f"| {server} | {free['concurrency']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def against_vllm(runs: dict[str, dict[str, list[Any]]]) -> str:
    """llava-serve / vLLM's server in requests per second, both under the json_schema."""
    json_runs = runs["e-json-schema"]
    cells = [
        f"{ours['request_throughput'] / theirs['request_throughput']:.2f}x "
        f"(c={ours['concurrency']})"
        for theirs, ours in zip(json_runs["vllm"], json_runs["llava-serve"], strict=True)
    ]
    return (
        "Under the json_schema, llava-serve serves "
        + ", ".join(cells)
        + " the requests per second of vLLM's server."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tiny-llava-hf")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--out", type=Path, default=Path("docs/bench"))
    args = parser.parse_args()
    model = model_under_test(args.model)
    spec = model.spec
    concurrencies = [int(value) for value in args.concurrency.split(",")]
    workloads = structured_workloads(args.requests, concurrencies)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        up = start_both(stack, model, logs, "-structured")
        tokenizer = get_tokenizer(str(model.checkpoint))
        runs = measure_cells(
            up, workloads, Path(scratch), spec.name, tokenizer, None, args.repeats, "structured"
        )
    table = ratios(runs)
    print(table)
    results = {"model": spec.name, "started": started, "requests": args.requests, "runs": runs}
    (args.out / f"structured-{spec.name}.json").write_text(json.dumps(results, indent=2))
    section = (
        f"## Constrained decoding, {spec.name} ({args.requests} requests per run, median of "
        f"{args.repeats} runs, {started})\n\n`python -m benchmarks.structured`: workload e "
        "(a 64x64 PNG, 32 tokens out) free and under a json_schema response_format whose "
        "answer cannot finish within the 32 tokens, so both generate the same number; each "
        "cell `free / json_schema (ratio json_schema / free)`, both servers with the same "
        f"structured-outputs settings ({spec.engine.structured_outputs_backend}, compact JSON). "
        f"Machine: {machine_description()}\n\n"
        f"{table}\n\n{against_vllm(runs)}\n"
    )
    (args.out / f"structured-{spec.name}.md").write_text(section)


if __name__ == "__main__":
    main()
