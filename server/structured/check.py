"""Checks a constraint before the request reaches the engine: a schema vLLM cannot compile gets
a 400 that points at the part of the schema it cannot take. Verdicts are cached per constraint,
so a schema sent with every request is checked once; the engine core's xgrammar compiler keeps
its own cache of compiled grammars, also keyed by the schema (llguidance builds masks lazily,
without one)."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable

from vllm.sampling_params import StructuredOutputsParams

from server.errors import BadRequestError
from server.structured.locate import find_offending_part

# Verdicts kept (a verdict is a few bytes; the bound only stops a client from growing it).
CACHE_ENTRIES = 1024

Verifier = Callable[[StructuredOutputsParams], None]


class ConstraintCheck:
    """`verify` raises BadRequestError for a constraint the engine would refuse."""

    def __init__(self, verify: Verifier, entries: int = CACHE_ENTRIES):
        self._verify = verify
        self._verdicts: OrderedDict[str, str | None] = OrderedDict()
        self._entries = entries

    def check(self, constraint: StructuredOutputsParams, param: str) -> None:
        """param: where the constraint came from in the request, e.g. "response_format"."""
        key = _cache_key(constraint)
        if key in self._verdicts:
            self._verdicts.move_to_end(key)
            problem = self._verdicts[key]
        else:
            problem = self._problem(constraint, param)
            self._verdicts[key] = problem
            if len(self._verdicts) > self._entries:
                self._verdicts.popitem(last=False)
        if problem is not None:
            raise BadRequestError(problem, param=param, code="invalid_schema")

    def _problem(self, constraint: StructuredOutputsParams, param: str) -> str | None:
        try:
            self._verify(constraint)
        except BadRequestError as error:
            if not isinstance(constraint.json, dict):
                return f"'{param}' cannot be used for constrained decoding: {error.message}"
            where, reason = find_offending_part(constraint.json, self._schema_fails)
            part = where or "(the whole schema)"
            return (
                f"The JSON schema in '{param}' cannot be compiled for constrained decoding: "
                f"the part at '{part}' is refused ({_readable(reason or error.message)})."
            )
        return None

    def _schema_fails(self, schema: object) -> str | None:
        if not isinstance(schema, dict):
            return "not a JSON schema object"
        try:
            self._verify(StructuredOutputsParams(json=schema))
        except BadRequestError as error:
            return error.message
        return None


def _readable(message: str) -> str:
    # xgrammar prefixes its messages with a time and its C++ source location.
    return _NATIVE_PREFIX.sub("", message).strip()


_NATIVE_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] [^ ]+:\d+: ")


def _cache_key(constraint: StructuredOutputsParams) -> str:
    fields = {name: getattr(constraint, name) for name in _CONSTRAINT_FIELDS}
    return json.dumps(fields, sort_keys=True, default=str)


_CONSTRAINT_FIELDS = (
    "json",
    "regex",
    "choice",
    "grammar",
    "json_object",
    "disable_any_whitespace",
    "disable_additional_properties",
    "whitespace_pattern",
    "structural_tag",
)
