"""The API error tree; each error renders as OpenAI's `{"error": {...}}` body."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    status_code = 500
    error_type = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers = headers or {}

    def to_body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.param, self.code)


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


class InvalidRequestError(APIError):
    status_code = 400
    error_type = "invalid_request_error"


class MissingParameterError(InvalidRequestError):
    default_code = "missing_required_parameter"

    def __init__(self, param: str) -> None:
        super().__init__(f"Missing required parameter: '{param}'.", param=param)


class AuthenticationError(APIError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class NotFoundError(APIError):
    status_code = 404
    error_type = "invalid_request_error"


class ConflictError(APIError):
    status_code = 409
    error_type = "invalid_request_error"


class PayloadTooLargeError(APIError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "file_too_large"


class RateLimitError(APIError):
    status_code = 429
    error_type = "requests"
    default_code = "rate_limit_exceeded"


class ServerError(APIError):
    status_code = 500
    error_type = "server_error"


def rate_limit_body() -> dict[str, Any]:
    return RateLimitError(
        "Rate limit reached for requests (emulated). Please try again later."
    ).to_body()


def server_error_body() -> dict[str, Any]:
    return ServerError(
        "The server had an error while processing your request. Sorry about that!"
    ).to_body()
