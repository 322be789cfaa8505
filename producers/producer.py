"""The producer SDK: submit work items to Redis and read their results. Needs no Celery."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import orjson
from redis import Redis

from producers.connection import connect
from producers.errors import InvalidItem, ItemNotFound, QueueFull, WaitTimeout
from producers.keys import Keys, PartitionKeys
from producers.models import PreparedItem, WorkItem, prepare
from producers.outage import REDIS_DOWN
from producers.plans import Plan, run
from producers.reading import (
    WAIT_SLICE,
    ItemStatus,
    Locator,
    partitions_plan,
    request_line_plan,
    result_plan,
    states_plan,
    status_plan,
    wait_once_plan,
)
from producers.replies import text
from producers.sending import SubmitReport, WindowSender
from producers.settings import Settings
from producers.storing import QUEUE_FULL, ItemWriter
from producers.windows import IN_FLIGHT, Windows

T = TypeVar("T")


class Producer:
    """Submits work items and reads their results; one per process is plenty (thread-safe).

    While Redis does not answer, every call retries with backoff for up to
    BATCHRELAY_PRODUCER_RETRY_SECONDS, then raises RedisUnavailable. A retried submit stores
    each id once, whatever reached Redis before the connection broke. AsyncProducer is the
    same for asyncio.
    """

    def __init__(self, redis: Redis, settings: Settings | None = None) -> None:
        self.redis = redis
        self.settings = settings or Settings()
        self.keys = Keys(self.settings.namespace)
        self._writer = ItemWriter(redis, self.settings)
        self._locator = Locator(self.keys)
        self._route = self.settings.provider_config().route

    @classmethod
    def from_url(cls, url: str | None = None, **settings: Any) -> Producer:
        """A producer for the Redis at ``url`` (default: BATCHRELAY_REDIS_URL), which may be a
        ``redis+sentinel://`` URL."""
        config = Settings(**settings) if url is None else Settings.from_dsn(url, **settings)
        return cls(connect(config), config)

    def close(self) -> None:
        self.redis.close()

    def _run(self, plan: Callable[[], Plan[T]]) -> T:
        """Run a plan (a new one for each try), riding out a Redis outage."""
        return self._writer.outage(self.redis).call(lambda: run(plan(), self.redis))

    # -- submitting -------------------------------------------------------------------------

    def submit(self, item: WorkItem | dict[str, Any]) -> str:
        """Store one item (once per id) and return its id; raise InvalidItem or QueueFull."""
        prepared = prepare(item, None, self.settings.item_byte_limit(), self._route)
        tag = prepared.partition
        now = repr(time.time())
        if self._write(tag, [prepared], now)[0] == QUEUE_FULL:
            raise QueueFull(tag, self.settings.max_queued, [prepared.id])
        return prepared.id

    def _write(self, tag: str, chunk: list[PreparedItem], now: str) -> list[int]:
        return self._run(lambda: self._writer.write_plan(tag, chunk, now))

    def _register(self, tag: str, item: PreparedItem) -> None:
        self._run(lambda: self._writer.register_plan(tag, item))

    def submit_many(
        self, items: Iterable[WorkItem | dict[str, Any] | PreparedItem], *, strict: bool = False
    ) -> SubmitReport:
        """Store many items, pipelined; a bad item is reported and never blocks the others.

        Items stream through in windows of WINDOW, so memory stays flat for any number of
        them; while earlier windows are on their way to Redis the next is validated. With
        ``strict=True`` any invalid item raises InvalidItem and nothing is stored (the
        items are then all validated before the first is stored).
        """
        report = SubmitReport()
        windows = self._windows(items, report)
        if strict:
            held = list(windows)
            if report.rejected:
                raise InvalidItem(report.rejected)
            windows = iter(held)
        sender = WindowSender(self._writer, self.redis, self._write, self._register, IN_FLIGHT)
        try:
            for window in windows:
                if (done := sender.send(window)) is not None:
                    report.merge(done)
            for done in sender.drain():
                report.merge(done)
        finally:
            sender.close()
        return report

    def _windows(
        self, items: Iterable[WorkItem | dict[str, Any] | PreparedItem], report: SubmitReport
    ) -> Iterator[list[PreparedItem]]:
        windows = Windows(self.settings.item_byte_limit(), self._route, report.rejected)
        for raw in items:
            if (window := windows.add(raw)) is not None:
                yield window
        if (rest := windows.rest()) is not None:
            yield rest

    # -- reading ----------------------------------------------------------------------------

    def partitions(self) -> dict[str, dict[str, str]]:
        """Every known partition: tag -> {endpoint, model}."""
        return self._run(lambda: partitions_plan(self.keys))

    def locate_many(self, item_ids: Iterable[str]) -> dict[str, PartitionKeys]:
        """The partition of each known id (unknown ids are left out), in one round trip."""
        ids = list(item_ids)
        return self._run(lambda: self._locator.plan(ids))

    def locate(self, item_id: str) -> PartitionKeys:
        """The keys of the partition holding ``item_id``; raise ItemNotFound."""
        found = self.locate_many([item_id])
        if item_id not in found:
            raise ItemNotFound(item_id)
        return found[item_id]

    def status(self, item_id: str) -> ItemStatus:
        """The item's current state, attempt, batch and last error; raise ItemNotFound."""
        keys = self.locate(item_id)
        return self._run(lambda: status_plan(keys, item_id))

    def result(self, item_id: str) -> dict[str, Any] | None:
        """The item's final result (succeeded or dead), or None while it has none."""
        keys = self.locate(item_id)
        return self._run(lambda: result_plan({item_id: keys}))[item_id]

    def states(self, item_ids: Iterable[str]) -> dict[str, str]:
        """The current state of each known id, pipelined."""
        located = self.locate_many(item_ids)
        return self._run(lambda: states_plan(located))

    def request_line(self, item_id: str) -> bytes | None:
        """The item's request line as it goes into a batch file; raise ItemNotFound."""
        keys = self.locate(item_id)
        return self._run(lambda: request_line_plan(keys, item_id))

    def iter_results(self, item_ids: Iterable[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """(id, result or None) for each known id, pipelined."""
        located = self.locate_many(item_ids)
        yield from self._run(lambda: result_plan(located)).items()

    def wait(self, item_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the item has a final result and return it; raise WaitTimeout. A Redis
        restart or failover meanwhile is ridden out (RedisUnavailable only past
        BATCHRELAY_PRODUCER_RETRY_SECONDS without Redis)."""
        keys = self.locate(item_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        outage = self._writer.outage(self.redis)
        while True:
            block = WAIT_SLICE
            if deadline is not None:
                block = min(block, deadline - time.monotonic())
            try:
                raw = run(wait_once_plan(keys, item_id, block), self.redis)
            except REDIS_DOWN as error:
                delay = outage.failed(error)
                if deadline is not None and time.monotonic() + delay >= deadline:
                    raise WaitTimeout(f"item {item_id!r} has no result after {timeout}s") from error
                time.sleep(delay)
                continue
            outage.ended()
            if raw is not None:
                return dict(orjson.loads(raw))
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"item {item_id!r} has no result after {timeout}s")

    def all_results(self) -> Iterator[dict[str, Any]]:
        """Every finished item's result still in Redis (for BATCHRELAY_RESULT_TTL after it
        finished), each once, batch by batch."""
        seen: set[str] = set()
        for tag in self.partitions():
            keys = self.keys.partition(tag)
            for key in self.redis.scan_iter(match=keys.results("*"), count=1000):
                # An item a batch sent back left it an empty result; a retried one may have
                # results in two batches, and is read once.
                ids = [
                    text(i)
                    for i, tail in self.redis.hscan_iter(key, count=1000)
                    if tail and text(i) not in seen
                ]
                for start in range(0, len(ids), 1000):
                    chunk = ids[start : start + 1000]
                    seen.update(chunk)
                    for _, result in self.iter_results(chunk):
                        if result is not None:
                            yield result
