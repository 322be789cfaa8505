"""AsyncProducer: the producer SDK for asyncio services, on redis.asyncio.

The same validation, Lua scripts and plans as Producer (producers/plans.py), driven by an
asyncio client; nothing here blocks the event loop for I/O.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis as AsyncRedis

from producers.connection import connect_async
from producers.errors import InvalidItem, ItemNotFound, QueueFull, WaitTimeout
from producers.keys import Keys, PartitionKeys
from producers.models import PreparedItem, WorkItem, prepare
from producers.outage import REDIS_DOWN
from producers.plans import Plan, arun
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
from producers.sending import SubmitReport, by_partition
from producers.settings import Settings
from producers.storing import QUEUE_FULL, ItemWriter
from producers.windows import IN_FLIGHT, Windows

T = TypeVar("T")
Items = Iterable[WorkItem | dict[str, Any]] | AsyncIterable[WorkItem | dict[str, Any]]


class AsyncProducer:
    """Submits work items and reads their results from asyncio code.

    ``async with AsyncProducer.from_url(url) as producer: await producer.submit(item)``.
    Outages are ridden out as Producer does (BATCHRELAY_PRODUCER_RETRY_SECONDS).
    """

    def __init__(self, redis: AsyncRedis, settings: Settings | None = None) -> None:
        self.redis = redis
        self.settings = settings or Settings()
        self.keys = Keys(self.settings.namespace)
        self._writer = ItemWriter(redis, self.settings)
        self._locator = Locator(self.keys)
        self._route = self.settings.provider_config().route

    @classmethod
    def from_url(cls, url: str | None = None, **settings: Any) -> AsyncProducer:
        """A producer for the Redis at ``url`` (default: BATCHRELAY_REDIS_URL)."""
        config = Settings(**settings) if url is None else Settings.from_dsn(url, **settings)
        return cls(connect_async(config), config)

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def __aenter__(self) -> AsyncProducer:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, plan: Callable[[], Plan[T]]) -> T:
        """Run a plan (a new one for each try), riding out a Redis outage."""
        return await self._writer.outage(self.redis).acall(lambda: arun(plan(), self.redis))

    # -- submitting -------------------------------------------------------------------------

    async def submit(self, item: WorkItem | dict[str, Any]) -> str:
        """Store one item (once per id) and return its id; raise InvalidItem or QueueFull."""
        prepared = prepare(item, None, self.settings.item_byte_limit(), self._route)
        tag = prepared.partition
        if (await self._write(tag, [prepared], repr(time.time())))[0] == QUEUE_FULL:
            raise QueueFull(tag, self.settings.max_queued, [prepared.id])
        return prepared.id

    async def _write(self, tag: str, chunk: list[PreparedItem], now: str) -> list[int]:
        return await self._run(lambda: self._writer.write_plan(tag, chunk, now))

    async def submit_many(self, items: Items, *, strict: bool = False) -> SubmitReport:
        """Store many items from an iterable or an async iterable, streamed in windows, two
        windows on their way to Redis while the next is validated; the same report as
        Producer.submit_many (``strict=True``: any invalid item raises, nothing is stored)."""
        report = SubmitReport()
        windows = Windows(self.settings.item_byte_limit(), self._route, report.rejected)
        held: list[list[PreparedItem]] = []
        in_flight: list[asyncio.Task[SubmitReport]] = []
        try:
            async for raw in _each(items):
                if (window := windows.add(raw)) is not None:
                    await self._send(window, held if strict else None, in_flight, report)
            if (rest := windows.rest()) is not None:
                await self._send(rest, held if strict else None, in_flight, report)
            if strict:
                if report.rejected:
                    raise InvalidItem(report.rejected)
                for window in held:
                    await self._send(window, None, in_flight, report)
            for task in in_flight:
                report.merge(await task)
        finally:
            for task in in_flight:
                task.cancel()
        return report

    async def _send(
        self,
        window: list[PreparedItem],
        held: list[list[PreparedItem]] | None,
        in_flight: list[asyncio.Task[SubmitReport]],
        report: SubmitReport,
    ) -> None:
        if held is not None:  # strict: every item is validated before the first is stored
            held.append(window)
            return
        if len(in_flight) >= IN_FLIGHT:
            report.merge(await in_flight.pop(0))
        in_flight.append(asyncio.create_task(self._store_window(window)))
        await asyncio.sleep(0)  # let it send before the next window is validated

    async def _store_window(self, window: list[PreparedItem]) -> SubmitReport:
        done = SubmitReport()
        now = repr(time.time())
        for tag, items in by_partition(window):
            done.add(items, await self._write(tag, items, now))
        return done

    # -- reading ----------------------------------------------------------------------------

    async def partitions(self) -> dict[str, dict[str, str]]:
        """Every known partition: tag -> {endpoint, model}."""
        return await self._run(lambda: partitions_plan(self.keys))

    async def locate_many(self, item_ids: Iterable[str]) -> dict[str, PartitionKeys]:
        """The partition of each known id (unknown ids are left out)."""
        ids = list(item_ids)
        return await self._run(lambda: self._locator.plan(ids))

    async def locate(self, item_id: str) -> PartitionKeys:
        found = await self.locate_many([item_id])
        if item_id not in found:
            raise ItemNotFound(item_id)
        return found[item_id]

    async def status(self, item_id: str) -> ItemStatus:
        """The item's current state, attempt, batch and last error; raise ItemNotFound."""
        keys = await self.locate(item_id)
        return await self._run(lambda: status_plan(keys, item_id))

    async def result(self, item_id: str) -> dict[str, Any] | None:
        """The item's final result (succeeded or dead), or None while it has none."""
        keys = await self.locate(item_id)
        return (await self._run(lambda: result_plan({item_id: keys})))[item_id]

    async def states(self, item_ids: Iterable[str]) -> dict[str, str]:
        """The current state of each known id."""
        located = await self.locate_many(item_ids)
        return await self._run(lambda: states_plan(located))

    async def request_line(self, item_id: str) -> bytes | None:
        """The item's request line as it goes into a batch file; raise ItemNotFound."""
        keys = await self.locate(item_id)
        return await self._run(lambda: request_line_plan(keys, item_id))

    async def wait(self, item_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the item's final result (BLPOP, no polling) and return it; raise
        WaitTimeout. Cancelling it (asyncio.wait_for, a task's cancel) leaves no connection
        behind: one cancelled in the middle of a command is closed, not reused."""
        keys = await self.locate(item_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        outage = self._writer.outage(self.redis)
        while True:
            block = WAIT_SLICE
            if deadline is not None:
                block = min(block, deadline - time.monotonic())
            try:
                raw = await arun(wait_once_plan(keys, item_id, block), self.redis)
            except REDIS_DOWN as error:
                delay = outage.failed(error)
                if deadline is not None and time.monotonic() + delay >= deadline:
                    raise WaitTimeout(f"item {item_id!r} has no result after {timeout}s") from error
                await asyncio.sleep(delay)
                continue
            outage.ended()
            if raw is not None:
                return dict(orjson.loads(raw))
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"item {item_id!r} has no result after {timeout}s")


async def _each(items: Items) -> AsyncIterable[WorkItem | dict[str, Any]]:
    """The items of an iterable or an async iterable, one at a time."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
