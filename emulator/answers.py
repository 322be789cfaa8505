"""What an endpoint answers to one request body: a body with its token counts, or a 4xx."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from emulator.errors import error_body


@dataclass(frozen=True)
class Generated:
    body: dict[str, Any]
    input_tokens: int
    output_tokens: int


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
