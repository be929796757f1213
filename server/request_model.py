"""The base of every request schema: unknown fields are refused, and an explicit null means
the field's default, as OpenAI treats it (clients send both). With the field types the
schemas share: text that is valid Unicode, numbers that are not booleans."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


_T = TypeVar("_T")


def valid_unicode(value: _T) -> _T:
    """JSON may carry a lone UTF-16 surrogate ("\\ud800"), which no tokenizer can encode.
    Checks a text, or each text (or text part) of a list."""
    for item in value if isinstance(value, list) else [value]:
        text = item if isinstance(item, str) else getattr(item, "text", None)
        # An ASCII text holds no surrogate, and CPython knows a str is ASCII without reading
        # it: a multi-megabyte data URL is not copied to be checked (this runs on the loop).
        if not isinstance(text, str) or text.isascii():
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(
                f"the text holds a lone UTF-16 surrogate at position {error.start}; "
                "it is not valid Unicode"
            ) from None
    return value


def _not_a_boolean(value: object) -> object:
    """JSON true is not the number 1 (pydantic's lax mode would take it as one)."""
    if isinstance(value, bool):
        raise ValueError("a number is expected, not a boolean")
    return value


Text = Annotated[str, AfterValidator(valid_unicode)]
Int = Annotated[int, BeforeValidator(_not_a_boolean)]
Float = Annotated[float, BeforeValidator(_not_a_boolean)]
