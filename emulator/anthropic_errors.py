"""Anthropic's error envelope, `{"type": "error", "error": {"type", "message"}}`, for the
Anthropic routes, and the translation of the emulator's OpenAI-shaped error bodies into it."""

from __future__ import annotations

from typing import Any

from emulator import ids
from emulator.errors import APIError
from emulator.httpjson import JsonResponse
from emulator.messages import is_anthropic_path

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
OVERLOADED_MESSAGE = "Overloaded"


def error_type_for(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_envelope(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def is_envelope(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    return body.get("type") == "error" and isinstance(body.get("error"), dict)


def translated(status: int, body: Any) -> dict[str, Any]:
    """An error body, OpenAI's `{"error": {"message", ...}}` or already Anthropic's, in
    Anthropic's envelope; the type follows the HTTP status."""
    if is_envelope(body):
        envelope: dict[str, Any] = body
        return envelope
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return error_envelope(error_type_for(status), str(message or f"Error code: {status}"))


class AnthropicError(APIError):
    """An error answered in Anthropic's envelope, its type from the status code."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message, headers=headers)
        self.status_code = status_code

    def to_body(self) -> dict[str, Any]:
        return error_envelope(error_type_for(self.status_code), self.message)


def error_json(
    path: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JsonResponse:
    """An error response in the envelope of the API `path` belongs to."""
    if is_anthropic_path(path):
        body = {**translated(status, body), "request_id": ids.request_id()}
    return JsonResponse(body, status_code=status, headers=headers)


def api_error_json(path: str, error: APIError) -> JsonResponse:
    return error_json(path, error.status_code, error.to_body(), error.headers)
