"""What an endpoint answers to one request body: a response body, or a 4xx."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from emulator.errors import error_body


def responses_usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """A usage object in the Responses API (and Batch object) shape."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


class LineRequestError(Exception):
    """A request body the endpoint rejects, answered with a 4xx and an OpenAI error body."""

    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.status_code = status
        self.body = error_body(message, "invalid_request_error", param, code)


def require(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None or value == "" or value == []:
        raise LineRequestError(
            f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
        )
    return value


def digest_of(body: dict[str, Any]) -> bytes:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).digest()
