"""Riding out a Redis that does not answer: back off with jitter, log once, give up late.

Every role and the SDK treat a connection error the same way: the first failure of a span is
logged once, tries are spaced by exponential backoff with full jitter (so a fleet of workers
does not reconnect in lockstep), the recovery is logged once, and only a span longer than the
tolerance ends in RedisUnavailable.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import ConnectionError, ReadOnlyError, TimeoutError

from producers.errors import RedisUnavailable

T = TypeVar("T")
# What an unreachable, restarting (LOADING is a ConnectionError) or demoted (READONLY) Redis
# raises; redis-py turns a sentinel's missing primary into a ConnectionError too.
REDIS_DOWN = (ConnectionError, TimeoutError, ReadOnlyError, OSError)


class Outage:
    """One span of failed calls to Redis, from the first failure to the next success."""

    def __init__(
        self,
        what: str,
        url: str,
        tolerance: float,
        log: logging.Logger,
        *,
        first_delay: float = 0.1,
        max_delay: float = 5.0,
        reconnect: Callable[[], object] | None = None,
    ) -> None:
        self.what = what
        self.url = url
        self.tolerance = tolerance
        self.log = log
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.reconnect = reconnect
        self.since: float | None = None  # monotonic time the span started
        self.failures = 0

    def failed(self, error: BaseException) -> float:
        """Record a failure; return how long to wait before the next try. Past the tolerance,
        raise RedisUnavailable (from ``error``)."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        if self.failures == 0:
            self.log.warning(
                "%s: Redis at %s unreachable (%s: %s); retrying for up to %.0fs",
                self.what,
                self.url,
                type(error).__name__,
                error,
                self.tolerance,
            )
        self.failures += 1
        elapsed = now - self.since
        if elapsed >= self.tolerance:
            raise RedisUnavailable(self.url, elapsed, error) from error
        ceiling = min(self.max_delay, self.first_delay * 2 ** (self.failures - 1))
        return min(random.uniform(0, ceiling), self.tolerance - elapsed)

    def ended(self) -> None:
        """Record a success: the span, if any, is over."""
        if self.failures:
            self.log.warning(
                "%s: Redis at %s answers again after %.1fs",
                self.what,
                self.url,
                time.monotonic() - (self.since or 0.0),
            )
        self.since = None
        self.failures = 0

    def _retry(self, error: BaseException, started: float) -> tuple[float, object]:
        """After a failed try of a call started at ``started``: the delay before the next,
        and what reconnecting returned (a demoted primary answers at the address: the pool
        must find the new one)."""
        if self.since is None:
            self.since = started
        reconnecting = None
        if isinstance(error, ReadOnlyError) and self.reconnect is not None:
            reconnecting = self.reconnect()
        return self.failed(error), reconnecting

    def call(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` until it returns, retrying while Redis is down (see failed()).
        The span counts from the first try: the client's own retries are part of it."""
        started = time.monotonic()
        while True:
            try:
                result = operation()
            except RedisUnavailable:  # an inner call already rode out its outage
                raise
            except REDIS_DOWN as error:
                delay, _ = self._retry(error, started)
                time.sleep(delay)
                continue
            self.ended()
            return result

    async def acall(self, operation: Callable[[], Awaitable[T]]) -> T:
        """call() for a coroutine: ``operation`` makes a new one for each try."""
        started = time.monotonic()
        while True:
            try:
                result = await operation()
            except RedisUnavailable:
                raise
            except REDIS_DOWN as error:
                delay, reconnecting = self._retry(error, started)
                if asyncio.iscoroutine(reconnecting):
                    await reconnecting
                await asyncio.sleep(delay)
                continue
            self.ended()
            return result
