"""Counts every request of every replica in Redis, by method, route template and status, so
that the one exporter reports them all (`batchrelay_gateway_requests`): no per-replica
/metrics to discover. One pipelined HINCRBY and HINCRBYFLOAT per request, after its response
is sent; a Redis error there loses the count, never the request."""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producers.keys import REQUEST_SECONDS_SUFFIX

log = logging.getLogger("batchrelay.gateway")
UNMATCHED = "unmatched"
UNCOUNTED = frozenset({"/healthz"})  # probes every few seconds, from every load balancer
METHODS = frozenset({"GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"})
"""Any other method is counted as OTHER: a client may send any, and labels must stay few."""


def route_of(scope: Scope) -> str:
    """The matched route's template (`/v1/files/{file_id}`), never the raw path with its ids."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestCounter:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            await self.count(scope, status, time.perf_counter() - started)

    async def count(self, scope: Scope, status: int, seconds: float) -> None:
        state = scope["app"].state
        redis = getattr(state, "redis", None)
        if redis is None:
            return
        route = route_of(scope)
        if route in UNCOUNTED:
            return
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        field = f"{method} {route} {status}"
        key = state.keys.gateway_requests
        try:
            pipe = redis.pipeline(transaction=False)
            pipe.hincrby(key, field, 1)
            pipe.hincrbyfloat(key, field + REQUEST_SECONDS_SUFFIX, seconds)
            await pipe.execute()
        except (RedisError, OSError) as error:
            log.debug("request not counted: %s", error)
