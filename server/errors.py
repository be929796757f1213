"""One typed error hierarchy, and its one mapping to the OpenAI error envelope."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class ServingError(Exception):
    """An error with an HTTP status and an OpenAI error type; the message is shown to clients."""

    status_code = 500
    error_type = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class BadRequestError(ServingError):
    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(ServingError):
    status_code = 401
    error_type = "authentication_error"


class ModelNotFoundError(ServingError):
    status_code = 404
    error_type = "invalid_request_error"

    def __init__(self, model: str, available: list[str]):
        super().__init__(
            f"The model '{model}' does not exist; this server serves {available}.",
            param="model",
            code="model_not_found",
        )


class PayloadTooLargeError(ServingError):
    status_code = 413
    error_type = "invalid_request_error"


class BodyReadTimeoutError(ServingError):
    """The client did not send its whole request body within the server's read timeout."""

    status_code = 408
    error_type = "timeout_error"

    def __init__(self, timeout_s: float):
        super().__init__(
            f"The request body did not arrive within {timeout_s:g} s.",
            param="body",
            code="body_read_timeout",
        )


class OverloadedError(ServingError):
    """Admission control refused the request; clients should retry after `retry_after_s`."""

    status_code = 429
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after_s: int):
        super().__init__(message, code="server_overloaded")
        self.retry_after_s = retry_after_s


class DeadlineExceededError(ServingError):
    """The server-side per-request deadline passed; the engine request was aborted."""

    status_code = 504
    error_type = "timeout_error"

    def __init__(self, timeout_s: float):
        super().__init__(
            f"The request did not finish within the server's {timeout_s:g} s deadline "
            "and was aborted.",
            code="deadline_exceeded",
        )


class NotReadyError(ServingError):
    status_code = 503
    error_type = "service_unavailable"


def error_body(
    message: str, error_type: str, param: str | None, code: str | None
) -> dict[str, Any]:
    """The OpenAI error envelope; also sent as the last event of a stream that fails."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def serving_error_body(error: ServingError) -> dict[str, Any]:
    return error_body(error.message, error.error_type, error.param, error.code)


def serving_error_response(error: ServingError) -> JSONResponse:
    """The HTTP response of a ServingError, also used by middleware that answers on its own."""
    headers = None
    if isinstance(error, OverloadedError):
        headers = {"Retry-After": str(error.retry_after_s)}
    return JSONResponse(serving_error_body(error), status_code=error.status_code, headers=headers)


def _validation_message(error: dict[str, Any]) -> tuple[str, str]:
    """Turns one pydantic error into (message, param) where param is the dotted field path."""
    location = [str(part) for part in error.get("loc", ()) if part != "body"]
    param = ".".join(location) or "body"
    if error.get("type") == "extra_forbidden":
        return f"Unsupported parameter: '{param}' is not supported by this server.", param
    if error.get("type") == "json_invalid":
        return "The request body is not valid JSON.", "body"
    return f"Invalid value for '{param}': {error.get('msg', 'invalid')}.", param


def install_error_handlers(app: FastAPI) -> None:
    """Maps every error that leaves a route to the OpenAI envelope, with the SDK's status codes."""

    @app.exception_handler(ServingError)
    async def _serving(_: Request, exc: ServingError) -> JSONResponse:
        return serving_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors()) or [{}]
        message, param = _validation_message(errors[0])
        if len(errors) > 1:
            message += f" ({len(errors) - 1} more problem(s) in the request)"
        body = error_body(message, "invalid_request_error", param, "invalid_value")
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        body = error_body(str(exc.detail), error_type, None, None)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        body = error_body("Internal server error.", "server_error", None, None)
        return JSONResponse(body, status_code=500)


class ConfigError(Exception):
    """A bad setting, model.yaml or checkpoint found at start-up; the message names what to fix."""
