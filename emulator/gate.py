"""ASGI middleware in front of /v1: auth (a bearer token or `x-api-key`), Anthropic's
`anthropic-version` header on its routes, then injected HTTP 429/500/529 faults, each answered
in the envelope of the route's API.

Pure ASGI (not BaseHTTPMiddleware) so that 200 MB uploads and file downloads stream through
untouched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fnmatch import fnmatchcase

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.anthropic_errors import (
    OVERLOADED_MESSAGE,
    AnthropicError,
    api_error_json,
    error_envelope,
    error_json,
)
from emulator.config import HttpFaults
from emulator.errors import APIError, AuthenticationError, rate_limit_body, server_error_body
from emulator.httpjson import JsonResponse
from emulator.messages import is_anthropic_path
from emulator.state import EmulatorState


def route_matches(routes: list[str] | None, method: str, path: str) -> bool:
    """`routes` entries: `/v1/batches` (that path and below), globs, optional leading METHOD."""
    if routes is None:
        return True
    for route in routes:
        wanted_method, _, pattern = route.strip().rpartition(" ")
        if wanted_method and wanted_method.upper() != method:
            continue
        prefix = pattern.rstrip("/")
        if fnmatchcase(path, pattern) or path == prefix or path.startswith(prefix + "/"):
            return True
    return False


def _masked(key: str) -> str:
    return key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "*" * len(key)


def presented_keys(headers: Mapping[str, str]) -> list[str]:
    """The keys a request carries: Anthropic's `x-api-key`, then a bearer token."""
    keys = [headers.get("x-api-key", "").strip()]
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        keys.append(token.strip())
    return [key for key in keys if key]


def check_auth(expected_key: str | None, headers: Mapping[str, str], *, anthropic: bool) -> None:
    if expected_key is None:
        return
    keys = presented_keys(headers)
    if expected_key in keys:
        return
    if anthropic:
        raise AnthropicError(401, "invalid x-api-key" if keys else "x-api-key header is required")
    if not keys:
        raise AuthenticationError(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    raise AuthenticationError(f"Incorrect API key provided: {_masked(keys[0])}.")


def check_version(headers: Mapping[str, str]) -> None:
    if not headers.get("anthropic-version", "").strip():
        raise AnthropicError(400, "anthropic-version: header is required")


def retry_after_headers(faults: HttpFaults) -> dict[str, str]:
    seconds = faults.retry_after_seconds
    return {
        "retry-after": str(math.ceil(seconds)),
        "retry-after-ms": str(int(seconds * 1000)),
    }


def drawn_fault(faults: HttpFaults, draw: float, *, anthropic: bool) -> int | None:
    """The status of the HTTP fault that a draw in [0, 1) falls on, if any."""
    bands = (
        (429, faults.http_429_rate),
        (500, faults.http_500_rate),
        (529, faults.http_529_rate if anthropic else 0.0),
    )
    for status, rate in bands:
        if draw < rate:
            return status
        draw -= rate
    return None


def fault_response(path: str, status: int, faults: HttpFaults) -> JsonResponse:
    if status == 429:
        return error_json(path, 429, rate_limit_body(), retry_after_headers(faults))
    if status == 529:
        return error_json(path, 529, error_envelope("overloaded_error", OVERLOADED_MESSAGE))
    return error_json(path, 500, server_error_body())


class Gate:
    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/v1" or path.startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        anthropic = is_anthropic_path(path)
        try:
            check_auth(self.state.settings.api_key, headers, anthropic=anthropic)
            if anthropic:
                check_version(headers)
        except APIError as exc:
            await api_error_json(path, exc)(scope, receive, send)
            return
        faults = self.state.faults
        if not self._faulty(faults) or not route_matches(faults.routes, scope["method"], path):
            await self.app(scope, receive, send)
            return
        rng = self.state.http_rng
        status = drawn_fault(faults, rng.random(), anthropic=anthropic)
        if status is not None:
            await fault_response(path, status, faults)(scope, receive, send)
        elif rng.random() < faults.http_500_after_rate:
            await self.app(scope, receive, _drop)
            await fault_response(path, 500, faults)(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _faulty(faults: HttpFaults) -> bool:
        return bool(
            faults.http_429_rate
            or faults.http_500_rate
            or faults.http_529_rate
            or faults.http_500_after_rate
        )


async def _drop(message: Message) -> None:
    """Stands in for `send` so a route's real answer is dropped and a 500 goes out instead."""
