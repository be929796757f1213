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


def log_refusal(status: int, body: dict[str, Any]) -> None:
    """Every 4xx with its reason, at info level: the access log line says what was answered,
    this one why (the two share the request id)."""
    if 400 <= status < 500:
        error = body["error"]
        logger.info(
            "%d %s: %s",
            status,
            error["type"],
            error["message"],
            extra={"status": status, "error_type": error["type"], "param": error["param"]},
        )


def serving_error_response(error: ServingError) -> JSONResponse:
    """The HTTP response of a ServingError, also used by middleware that answers on its own."""
    log_refusal(error.status_code, serving_error_body(error))
    headers = None
    if isinstance(error, OverloadedError):
        headers = {"Retry-After": str(error.retry_after_s)}
    return JSONResponse(serving_error_body(error), status_code=error.status_code, headers=headers)


def _body_path(location: tuple[Any, ...], body: Any) -> list[str]:
    """The error's location as a path in the body the client sent: pydantic puts the names of
    union branches ("str", "list[...]", a tag) in its locations; those are not the client's."""
    path: list[str] = []
    node = body
    parts = [part for part in location if part != "body"]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if _has_child(node, part):
            path.append(str(part))
            node = node[part]
        elif last or not isinstance(node, dict | list):
            path.append(str(part))  # a missing field, or the path left the body
            node = None
    return path


def _has_child(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _validation_message(error: dict[str, Any], body: Any) -> tuple[str, str]:
    """Turns one pydantic error into (message, param) where param is the dotted field path."""
    param = ".".join(_body_path(tuple(error.get("loc", ())), body)) or "body"
    if error.get("type") == "json_invalid":
        return "The request body is not valid JSON.", "body"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if param == "body":
        return f"Invalid request: {message}.", param
    return f"Invalid value for '{param}': {message}.", param


def _most_specific(errors: list[dict[str, Any]], body: Any) -> dict[str, Any]:
    """Of a union's errors, the one that got deepest into what the client sent: for a content
    part, the part's own problem rather than "content is not a string"."""

    def depth(error: dict[str, Any]) -> int:
        location = [part for part in error.get("loc", ()) if part != "body"]
        return len(_body_path(tuple(location[:-1]), body)) if location else 0

    return max(errors, key=depth)


def validation_error_body(errors: list[dict[str, Any]], body: Any) -> dict[str, Any]:
    """One 400 for the whole request: every unsupported field named at once, else the most
    specific problem."""
    extra = [error for error in errors if error.get("type") == "extra_forbidden"]
    if extra:
        names = [".".join(_body_path(tuple(error.get("loc", ())), body)) for error in extra]
        quoted = ", ".join(f"'{name}'" for name in names)
        verb = "is" if len(names) == 1 else "are"
        message = f"Unsupported parameter: {quoted} {verb} not supported by this server."
        return error_body(message, "invalid_request_error", names[0], "unsupported_parameter")
    message, param = _validation_message(_most_specific(errors, body), body)
    return error_body(message, "invalid_request_error", param, "invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    """Maps every error that leaves a route to the OpenAI envelope, with the SDK's status codes."""
    # Imported here, as the app is built: the CLI imports this module and refuses a bad model
    # or a taken port before vLLM (seconds of imports) is loaded.
    from vllm.exceptions import VLLMValidationError

    @app.exception_handler(ServingError)
    async def _serving(_: Request, exc: ServingError) -> JSONResponse:
        return serving_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors()) or [{}]
        body = validation_error_body(errors, exc.body)
        log_refusal(400, body)
        return JSONResponse(body, status_code=400)

    @app.exception_handler(VLLMValidationError)
    async def _vllm_validation(_: Request, exc: VLLMValidationError) -> JSONResponse:
        # vLLM's own checks of a request's values (SamplingParams, ...) beyond the schemas'.
        return serving_error_response(BadRequestError(str(exc.args[0]), param=exc.parameter))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        body = error_body(str(exc.detail), error_type, None, None)
        log_refusal(exc.status_code, body)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        body = error_body("Internal server error.", "server_error", None, None)
        return JSONResponse(body, status_code=500)


class ConfigError(Exception):
    """A bad setting, model.yaml or checkpoint found at start-up; the message names what to fix."""
