"""Structured outputs without an engine: response formats -> vLLM's StructuredOutputsParams, and
the schema check that names the part vLLM's xgrammar backend cannot compile."""

from __future__ import annotations

import pytest
from vllm import SamplingParams
from vllm.exceptions import VLLMValidationError
from vllm.sampling_params import StructuredOutputsParams
from vllm.v1.structured_output.backend_xgrammar import validate_xgrammar_grammar

from server.chat.constraints import request_constraint
from server.chat.schemas import ChatCompletionRequest
from server.errors import BadRequestError
from server.structured.check import ConstraintCheck
from server.structured.formats import response_format_params

COLOUR = {"type": "string", "enum": ["red", "green", "blue"]}
UNCLOSED = {"type": "string", "pattern": "(unclosed"}


class XgrammarVerifier:
    """vLLM's own xgrammar validation (what its engine runs with the xgrammar backend),
    counting its calls so the cache can be seen working."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, constraint: StructuredOutputsParams) -> None:
        self.calls += 1
        try:
            validate_xgrammar_grammar(SamplingParams(structured_outputs=constraint))
        except (VLLMValidationError, ValueError) as error:
            raise BadRequestError(str(error)) from error


def request(response_format: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": response_format,
        }
    )


def test_response_formats_become_vllm_constraints() -> None:
    assert response_format_params(request({"type": "text"}).response_format) is None
    json_object = response_format_params(request({"type": "json_object"}).response_format)
    assert json_object is not None and json_object.json_object is True
    schema = {"type": "object", "properties": {"colour": COLOUR}, "required": ["colour"]}
    spec = {"name": "thing", "schema": schema, "strict": True}
    constraint = response_format_params(
        request({"type": "json_schema", "json_schema": spec}).response_format
    )
    assert constraint is not None and constraint.json == schema


def test_a_good_schema_passes_and_its_verdict_is_cached() -> None:
    verifier = XgrammarVerifier()
    check = ConstraintCheck(verifier)
    schema = {"type": "object", "properties": {"colour": COLOUR}}
    for _ in range(3):
        check.check(StructuredOutputsParams(json=dict(schema)), "response_format")
    assert verifier.calls == 1


def test_a_bad_schema_is_refused_naming_the_part() -> None:
    verifier = XgrammarVerifier()
    check = ConstraintCheck(verifier)
    bad_part = {"type": "string", "pattern": "(unclosed"}
    schema = {
        "type": "object",
        "properties": {
            "colour": COLOUR,
            "shape": {"type": "object", "properties": {"name": bad_part}},
        },
    }
    with pytest.raises(BadRequestError) as refused:
        check.check(StructuredOutputsParams(json=schema), "response_format.json_schema.schema")
    error = refused.value
    assert error.param == "response_format.json_schema.schema"
    assert "properties.shape.properties.name" in error.message
    calls = verifier.calls
    with pytest.raises(BadRequestError):  # the refusal is cached too
        check.check(StructuredOutputsParams(json=schema), "response_format.json_schema.schema")
    assert verifier.calls == calls


def test_a_refused_reference_is_found_through_definitions() -> None:
    check = ConstraintCheck(XgrammarVerifier())
    schema = {
        "$defs": {"Name": {"type": "string", "pattern": "[a-"}},
        "type": "object",
        "properties": {"name": {"$ref": "#/$defs/Name"}, "ok": {"type": "boolean"}},
    }
    with pytest.raises(BadRequestError, match=r"\$defs.Name"):
        check.check(StructuredOutputsParams(json=schema), "response_format")


def tool(name: str, parameters: dict[str, object]) -> dict[str, object]:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def test_a_tool_schema_that_cannot_compile_is_named_by_its_place_in_tools() -> None:
    good = tool("paint", {"type": "object", "properties": {"colour": COLOUR}})
    bad = tool("name", {"type": "object", "properties": {"name": UNCLOSED}})
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [good, bad]}
    check = ConstraintCheck(XgrammarVerifier())
    required = ChatCompletionRequest.model_validate({**body, "tool_choice": "required"})
    with pytest.raises(BadRequestError) as refused:
        request_constraint(required, check)
    assert refused.value.param == "tools.1.function.parameters"
    assert "'properties.name'" in refused.value.message
    # A named choice decodes under the chosen tool's schema only.
    named = {"type": "function", "function": {"name": "paint"}}
    chosen = ChatCompletionRequest.model_validate({**body, "tool_choice": named})
    assert request_constraint(chosen, check) is not None
