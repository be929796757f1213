"""Schema fuzzing: schemathesis reads the running server's /openapi.json and sends generated
valid (positive) and invalid (negative) requests to every operation. No answer may be a 5xx,
and the server must still be healthy after. Bounded: a fixed number of examples per operation
and mode, derandomized so a run is reproducible."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

import httpx

# schemathesis and hypothesis are imported where they are used: they take over a second to
# import, which every collection of the suite (`-m "not needs_server"` too) would pay.

# Enough to reach every validator of each operation within the suite's time budget (README).
EXAMPLES_PER_OPERATION_AND_MODE = 50
REQUEST_TIMEOUT_S = 120  # bounds a hang; a fetch or generation is capped well below this


def fuzz_operation(
    base_url: str, operation: Any, mode: Any, statuses: Counter[int], model: str
) -> list[str]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if mode is GenerationMode.POSITIVE and isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = model  # past the model check, deeper into prompt and engine
            _short_answers(case.body)
        response = case.call(base_url=base_url, timeout=REQUEST_TIMEOUT_S)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(
                f"{operation.label} [{mode.value}] -> {response.status_code}: "
                f"{response.text[:300]} (request body: {str(case.body)[:300]})"
            )

    # Unsatisfiable: nothing to generate, e.g. a negative case for GET /health.
    with contextlib.suppress(Unsatisfiable):
        run()
    return failures


# Valid requests reach the engine; a few tokens test that path as well as hundreds would.
ANSWER_LENGTH_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
MAX_FUZZ_TOKENS = 8


def _short_answers(body: dict[str, Any]) -> None:
    for field in ANSWER_LENGTH_FIELDS:
        if isinstance(body.get(field), int) and body[field] > MAX_FUZZ_TOKENS:
            body[field] = MAX_FUZZ_TOKENS


def test_schema_fuzzing_finds_no_server_errors(base_url: str, model_id: str) -> None:
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations: list[Any] = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    labels = {operation.label for operation in operations}
    assert "POST /v1/chat/completions" in labels, labels
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += fuzz_operation(base_url, operation, mode, statuses, model_id)
    print(f"schemathesis: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert not failures, "\n".join(failures[:20])
    assert statuses[200] > 0 and sum(statuses.values()) > len(operations)
    assert httpx.get(f"{base_url}/health", timeout=30).status_code == 200
    assert httpx.get(f"{base_url}/ready", timeout=30).status_code == 200
