"""ASGI middleware in front of /v1: bearer auth, then injected HTTP 429/500 faults.

Pure ASGI (not BaseHTTPMiddleware) so that 200 MB uploads and file downloads stream through
untouched.
"""

from __future__ import annotations

import math
from fnmatch import fnmatchcase

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.config import HttpFaults
from emulator.errors import APIError, AuthenticationError, rate_limit_body, server_error_body
from emulator.httpjson import JsonResponse, error_response
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


def check_auth(expected_key: str | None, authorization: str | None) -> None:
    if expected_key is None:
        return
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    if key.strip() != expected_key:
        raise AuthenticationError(f"Incorrect API key provided: {_masked(key.strip())}.")


def retry_after_headers(faults: HttpFaults) -> dict[str, str]:
    seconds = faults.retry_after_seconds
    return {
        "retry-after": str(math.ceil(seconds)),
        "retry-after-ms": str(int(seconds * 1000)),
    }


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
        try:
            check_auth(self.state.settings.api_key, headers.get("authorization"))
        except APIError as exc:
            await error_response(exc)(scope, receive, send)
            return
        faults = self.state.faults
        if not self._faulty(faults) or not route_matches(faults.routes, scope["method"], path):
            await self.app(scope, receive, send)
            return
        rng = self.state.http_rng
        draw = rng.random()
        if draw < faults.http_429_rate:
            response = JsonResponse(rate_limit_body(), 429, headers=retry_after_headers(faults))
            await response(scope, receive, send)
        elif draw < faults.http_429_rate + faults.http_500_rate:
            await JsonResponse(server_error_body(), 500)(scope, receive, send)
        elif rng.random() < faults.http_500_after_rate:
            await self.app(scope, receive, _drop)
            await JsonResponse(server_error_body(), 500)(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _faulty(faults: HttpFaults) -> bool:
        return bool(faults.http_429_rate or faults.http_500_rate or faults.http_500_after_rate)


async def _drop(message: Message) -> None:
    """Stands in for `send` so a route's real answer is dropped and a 500 goes out instead."""
