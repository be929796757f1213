"""OpenAI's response formats (chat's `response_format`, the Responses API's `text.format`) and
vLLM's own `structured_outputs` field, as vLLM StructuredOutputsParams.

vLLM does the constrained decoding itself (with the model's backend: xgrammar or llguidance);
this module only translates the request's wording.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator
from vllm.sampling_params import StructuredOutputsParams

from server.request_model import RequestModel

MAX_SCHEMA_NAME_CHARS = 64
MAX_CHOICES = 1024


class _Strict(RequestModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class JsonSchemaSpec(_Strict):
    name: str = Field("response", max_length=MAX_SCHEMA_NAME_CHARS)
    description: str | None = None
    json_schema: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class TextFormat(_Strict):
    type: Literal["text"]


class JsonObjectFormat(_Strict):
    type: Literal["json_object"]


class JsonSchemaFormat(_Strict):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")
]


class VllmStructuredOutputs(_Strict):
    """vLLM's `structured_outputs` request field: exactly one constraint, as `vllm serve`."""

    json_schema: dict[str, Any] | str | None = Field(None, alias="json")
    regex: str | None = None
    choice: list[str] | None = Field(None, min_length=1, max_length=MAX_CHOICES)
    grammar: str | None = None
    json_object: Literal[True] | None = None
    disable_any_whitespace: bool = False
    disable_additional_properties: bool = False
    whitespace_pattern: str | None = None

    @model_validator(mode="after")
    def _one_constraint(self) -> VllmStructuredOutputs:
        kinds = [self.json_schema, self.regex, self.choice, self.grammar, self.json_object]
        if sum(kind is not None for kind in kinds) != 1:
            raise ValueError("takes exactly one of json, regex, choice, grammar, json_object")
        return self

    def to_params(self) -> StructuredOutputsParams:
        schema = self.json_schema
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except json.JSONDecodeError as error:
                raise ValueError(f"json is not valid JSON: {error}") from error
        return StructuredOutputsParams(
            json=schema,
            regex=self.regex,
            choice=self.choice,
            grammar=self.grammar,
            json_object=self.json_object,
            disable_any_whitespace=self.disable_any_whitespace,
            disable_additional_properties=self.disable_additional_properties,
            whitespace_pattern=self.whitespace_pattern,
        )


def response_format_params(
    response_format: TextFormat | JsonObjectFormat | JsonSchemaFormat | None,
) -> StructuredOutputsParams | None:
    """None for free text; otherwise the constraint vLLM decodes under."""
    if response_format is None or isinstance(response_format, TextFormat):
        return None
    if isinstance(response_format, JsonObjectFormat):
        return StructuredOutputsParams(json_object=True)
    return StructuredOutputsParams(json=response_format.json_schema.json_schema)
