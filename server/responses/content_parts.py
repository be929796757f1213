"""The content parts of a Responses message item: what users send (text, images) and the
assistant text a client sends back as history."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.chat.schemas import MAX_TEXT_CHARS
from server.request_model import RequestModel


class InputText(RequestModel):
    type: Literal["input_text"]
    text: str = Field(max_length=MAX_TEXT_CHARS)


class InputImage(RequestModel):
    type: Literal["input_image"]
    image_url: str | None = Field(None, min_length=1)
    detail: Literal["auto", "low", "high"] | None = None
    file_id: str | None = None

    @model_validator(mode="after")
    def _by_url(self) -> InputImage:
        if self.file_id is not None:
            raise ValueError("file_id is not supported (no file storage): send image_url")
        if self.image_url is None:
            raise ValueError("image_url is required (an http(s) URL or a data: URL)")
        return self


class OutputText(BaseModel):
    """An assistant turn sent back as history, as the SDK returns it (annotations and logprobs
    come along and are ignored)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["output_text"]
    text: str = Field(max_length=MAX_TEXT_CHARS)


ContentPart = Annotated[InputText | InputImage | OutputText, Field(discriminator="type")]
