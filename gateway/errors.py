"""Every error the gateway answers, in OpenAI's envelope:
``{"error": {"message", "type", "param", "code"}}``.

Routes raise GatewayError; install_error_handlers() renders it, and turns FastAPI's validation
errors (400), unknown routes (404), an unreachable Redis (503) and anything unexpected (500,
without details) into the same envelope, so the openai SDK raises its usual exceptions.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.responses import Response

log = logging.getLogger("batchrelay.gateway")

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"
UNAVAILABLE_MESSAGE = "The gateway cannot reach its storage right now. Please try again."


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class GatewayError(Exception):
    """An error answered as ``status`` with OpenAI's error body (and any ``headers``, such as
    a 429's retry-after)."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)

    def response(self) -> JsonResponse:
        return JsonResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(
    message: str, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def invalid_request(
    message: str, param: str | None = None, code: str | None = None
) -> GatewayError:
    """A 400 invalid_request_error."""
    return GatewayError(400, message, INVALID_REQUEST, param, code)


def missing_parameter(param: str) -> GatewayError:
    return invalid_request(
        f"Missing required parameter: '{param}'.", param, "missing_required_parameter"
    )


def not_found(what: str, object_id: str) -> GatewayError:
    """The 404 of an object that is missing or another tenant's: the two look the same."""
    return GatewayError(404, f"No such {what} object: {object_id}", INVALID_REQUEST, "id")


async def _gateway_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return exc.response()


def _param_of(location: tuple[Any, ...]) -> str | None:
    parts = [str(part) for part in location if part not in ("query", "path", "body", "header")]
    return ".".join(parts) or None


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first: dict[str, Any] = errors[0] if errors else {}
    param = _param_of(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        error = invalid_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly.)"
        )
    elif first.get("type") == "missing" and param:
        error = missing_parameter(param)
    else:
        reason = first.get("msg", "invalid value")
        error = invalid_request(f"Invalid value for '{param}': {reason}.", param, "invalid_value")
    return error.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        message = f"Invalid URL ({request.method} {request.url.path})"
    else:
        message = str(exc.detail)
    error_type = SERVER_ERROR if exc.status_code >= 500 else INVALID_REQUEST
    return GatewayError(exc.status_code, message, error_type).response()


async def _redis_error(request: Request, exc: Exception) -> Response:
    log.error("Redis failed on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return GatewayError(503, UNAVAILABLE_MESSAGE, SERVER_ERROR).response()


async def _unexpected_error(request: Request, _exc: Exception) -> Response:
    # Starlette re-raises the exception after this answer, so the server logs its traceback.
    log.error("unexpected error on %s %s", request.method, request.url.path)
    return GatewayError(500, SERVER_ERROR_MESSAGE, SERVER_ERROR).response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RedisError, _redis_error)
    app.add_exception_handler(Exception, _unexpected_error)
