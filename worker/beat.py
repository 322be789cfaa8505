"""The beat scheduler: RedBeat, made to ride out a Redis restart or failover.

RedBeat's own tick extends its lock and lets a connection error escape, which ends `celery
beat` (sibson/redbeat#314); two beats die together. Here a beat ticks only while it holds the
lock, and a failed or refused extension means: stop ticking, then take the lock again. While
Redis is down the beat backs off and logs once; a standby keeps trying to take the lock. Only
an outage longer than BATCHRELAY_REDIS_OUTAGE_TOLERANCE ends the process (RedisUnavailable),
so a supervisor can see it.

The lock is redis-py's token lock: extending it checks the token, so after a restart a beat
either still owns its lock (its token is there) and goes on, or lost it to the other beat,
whose token is there, and stands by. A tick can outlast the lock (a send blocked on an
unreachable broker), so the beat checks that it still holds the lock right before each send:
a beat that lost it sends nothing more.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Celery
from celery.signals import beat_init
from kombu.exceptions import OperationalError
from redbeat.schedulers import RedBeatScheduler, acquire_distributed_beat_lock
from redis.exceptions import LockError
from redis.lock import Lock

from producers.connection import connect, safe_url
from producers.outage import REDIS_DOWN, Outage
from producers.settings import Settings

log = logging.getLogger("celery.beat")
T = TypeVar("T")


class LockLost(Exception):
    """The beat's lock lapsed during a tick (and may be the other beat's now)."""


# The lock is taken in tick(), never blocking, rather than at startup in a blocking loop.
beat_init.disconnect(acquire_distributed_beat_lock)


def is_outage(error: BaseException) -> bool:
    """Whether ``error``, or what it wraps (Celery's SchedulingError, kombu's errors), says
    that Redis could not be reached."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (*REDIS_DOWN, OperationalError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Scheduler(RedBeatScheduler):  # type: ignore[misc]
    """RedBeat that holds its lock while it ticks and survives Redis outages."""

    def __init__(self, app: Celery, **kwargs: Any) -> None:
        settings = Settings()
        # RedBeat reads its client from the app: ours, so Sentinel URLs work here too.
        app.redbeat_redis = connect(settings, decode_responses=True)
        self.url = safe_url(settings.redis_url)
        self.outage = Outage("beat", self.url, settings.redis_outage_tolerance, log)
        self.lock: Lock | None = None
        super().__init__(app, **kwargs)

    @property
    def info(self) -> str:
        """The banner's lines (RedBeat's own cannot parse a Sentinel URL)."""
        lock = f"`{self.lock_key}` ({self.lock_timeout}s)" if self.lock_key else "none"
        return f"       . redis -> {self.url}\n       . lock -> {lock}"

    def setup_schedule(self) -> None:
        self._riding_out(super().setup_schedule)

    def _riding_out(self, operation: Callable[[], T]) -> T:
        while True:
            try:
                result = operation()
            except Exception as error:
                if not is_outage(error):
                    raise
                time.sleep(self.outage.failed(error))
                continue
            self.outage.ended()
            return result

    def tick(self, min: Callable[..., float] = min, **kwargs: Any) -> float:
        """Send what is due if this beat holds the lock; return the seconds to sleep."""
        try:
            if not self._hold_lock():
                self.outage.ended()
                return self._standby_interval()
            remaining = [self.maybe_due(entry) for entry in self.schedule.values()]
        except LockLost:
            self._drop_lock(reason="lost during a tick")
            return self._standby_interval()
        except Exception as error:
            if not is_outage(error):
                raise
            self._drop_lock(reason=None)
            return self.outage.failed(error)
        self.outage.ended()
        return float(min([t for t in remaining if t] + [self.max_interval]))

    def maybe_due(self, entry: Any, **kwargs: Any) -> float:
        """Send ``entry`` if it is due; a lost Redis stops the tick (RedBeat's own version
        logs and carries on with the next entry)."""
        is_due, next_time_to_run = entry.is_due()
        if is_due:
            if self.lock_key and not (self.lock is not None and self.lock.owned()):
                raise LockLost
            log.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
            try:
                self.apply_async(entry, producer=self.producer)
            except Exception as error:
                if is_outage(error):
                    raise
                log.exception("Scheduler: Message Error: %s", error)
        return float(next_time_to_run)

    def _hold_lock(self) -> bool:
        """Extend the lock if this beat holds it, else try to take it; True when held."""
        if not self.lock_key:
            return True
        if self.lock is not None:
            try:
                self.lock.extend(int(self.lock_timeout), replace_ttl=True)
                return True
            except LockError:  # it lapsed, and maybe the other beat took it
                self._drop_lock(reason="lost")
        lock = self.app.redbeat_redis.lock(
            self.lock_key, timeout=self.lock_timeout, blocking=False, thread_local=False
        )
        if not lock.acquire():
            return False
        log.info("beat: Acquired lock")
        self.lock = lock
        return True

    def _drop_lock(self, reason: str | None) -> None:
        """Stop counting on the lock. With a reason, the lock is known to be lost; without,
        Redis did not answer, and the next tick tries to extend it again (its token tells
        whether it is still ours)."""
        if reason is not None and self.lock is not None:
            log.warning("beat: lock %s; standing by until it can be taken again", reason)
            self.lock = None

    def _standby_interval(self) -> float:
        return float(min(self.max_interval, self.lock_timeout / 4))

    def close(self) -> None:
        lock, self.lock = self.lock, None
        if lock is not None:
            try:
                if lock.owned():
                    lock.release()
                    log.info("beat: Released lock")
            except (*REDIS_DOWN, LockError) as error:  # it lapses by itself
                log.warning("beat: could not release the lock: %s", error)
        super(RedBeatScheduler, self).close()
