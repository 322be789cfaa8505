"""The producer SDK: submit work items to Redis and read their results. Needs no Celery."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import orjson
from redis import Redis

from producers.connection import connect
from producers.errors import InvalidItem, ItemNotFound, QueueFull, Rejection, WaitTimeout
from producers.keys import Keys, PartitionKeys, partition_tag
from producers.models import PreparedItem, WorkItem, prepare
from producers.outage import REDIS_DOWN
from producers.replies import text, text_hash
from producers.results import read_results
from producers.sending import SubmitReport, WindowSender
from producers.settings import Settings
from producers.status import ItemState
from producers.storing import QUEUE_FULL, SUBMIT_CHUNK, ItemWriter

T = TypeVar("T")
P = ParamSpec("P")
STATE_ORDER = {state.value: n for n, state in enumerate(ItemState)}
TIMESTAMP = "_at"  # an item's '<state>_at' fields say when it reached each state
# A waiter re-announces itself this often, so its flag never lapses; each BLPOP blocks this
# long at most, under the client's read timeout (producers/connection.py).
WAIT_SLICE = 20.0


# One chunk per window, two windows in flight (producers/sending.py): Redis gets the next
# chunk while it runs one, and never waits long for it. (Four chunks per round trip on sender
# threads left Redis idle a fifth of the time.)
WINDOW = SUBMIT_CHUNK
IN_FLIGHT = 2


def _riding_out_outages(
    method: Callable[Concatenate[Producer, P], T],
) -> Callable[Concatenate[Producer, P], T]:
    """Retry the whole call while Redis does not answer (see Producer)."""

    def retrying(self: Producer, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._writer.outage().call(lambda: method(self, *args, **kwargs))

    return wraps(method)(retrying)  # type: ignore[return-value]


@dataclass(frozen=True)
class ItemStatus:
    """An item's state as stored in Redis."""

    id: str
    state: str
    attempt: int
    batch_id: str | None
    outcome: str | None
    code: str | None
    message: str | None
    history: str
    timestamps: dict[str, float]
    partition: str


class Producer:
    """Submits work items and reads their results; one per process is plenty (thread-safe).

    While Redis does not answer, every call retries with backoff for up to
    BATCHRELAY_PRODUCER_RETRY_SECONDS, then raises RedisUnavailable. A retried submit stores
    each id once, whatever reached Redis before the connection broke.
    """

    def __init__(self, redis: Redis, settings: Settings | None = None) -> None:
        self.redis = redis
        self.settings = settings or Settings()
        self.keys = Keys(self.settings.namespace)
        self._writer = ItemWriter(redis, self.settings)
        self._tags: list[str] = []  # partition tags seen so far (see locate_many)

    @classmethod
    def from_url(cls, url: str | None = None, **settings: Any) -> Producer:
        """A producer for the Redis at ``url`` (default: BATCHRELAY_REDIS_URL), which may be a
        ``redis+sentinel://`` URL."""
        config = Settings(**settings) if url is None else Settings.from_dsn(url, **settings)
        return cls(connect(config), config)

    def close(self) -> None:
        self.redis.close()

    # -- submitting -------------------------------------------------------------------------

    def submit(self, item: WorkItem | dict[str, Any]) -> str:
        """Store one item (once per id) and return its id; raise InvalidItem or QueueFull."""
        prepared = prepare(item, None, self.settings.item_byte_limit())
        tag = partition_tag(prepared.endpoint, prepared.model)
        now = repr(time.time())
        code = self._writer.write(tag, [prepared], now)[0]
        if code == QUEUE_FULL:
            raise QueueFull(tag, self.settings.max_queued, [prepared.id])
        return prepared.id

    def submit_many(
        self, items: Iterable[WorkItem | dict[str, Any]], *, strict: bool = False
    ) -> SubmitReport:
        """Store many items, pipelined; a bad item is reported and never blocks the others.

        Items stream through in windows of WINDOW, so memory stays flat for any number of
        them; while earlier windows are on their way to Redis the next is validated. With
        ``strict=True`` any invalid item raises InvalidItem and nothing is stored (the
        items are then all validated before the first is stored).
        """
        report = SubmitReport()
        limit = self.settings.item_byte_limit()
        windows = self._windows(items, limit, report.rejected)
        if strict:
            held = list(windows)
            if report.rejected:
                raise InvalidItem(report.rejected)
            windows = iter(held)
        sender = WindowSender(self._writer, IN_FLIGHT)
        try:
            for window in windows:
                if (done := sender.send(window)) is not None:
                    report.merge(done)
            for done in sender.drain():
                report.merge(done)
        finally:
            sender.close()
        return report

    @staticmethod
    def _windows(
        items: Iterable[WorkItem | dict[str, Any]], limit: int, rejected: list[Rejection]
    ) -> Iterator[list[PreparedItem]]:
        window: list[PreparedItem] = []
        for index, raw in enumerate(items):
            try:
                window.append(prepare(raw, index, limit))
            except InvalidItem as error:
                rejected.extend(error.rejections)
                continue
            if len(window) == WINDOW:
                yield window
                window = []
        if window:
            yield window

    # -- reading ----------------------------------------------------------------------------

    @_riding_out_outages
    def partitions(self) -> dict[str, dict[str, str]]:
        """Every known partition: tag -> {endpoint, model}."""
        raw = self.redis.hgetall(self.keys.partitions)
        return {text(k): orjson.loads(v) for k, v in raw.items()}

    @_riding_out_outages
    def locate(self, item_id: str) -> PartitionKeys:
        """The keys of the partition holding ``item_id``; raise ItemNotFound."""
        found = self.locate_many([item_id])
        if item_id not in found:
            raise ItemNotFound(item_id)
        return found[item_id]

    @_riding_out_outages
    def status(self, item_id: str) -> ItemStatus:
        """The item's current state, attempt, batch and last error; raise ItemNotFound."""
        keys = self.locate(item_id)
        raw = text_hash(self.redis.hgetall(keys.item(item_id)))
        if raw.get("state") == "queued" and "segment" in raw:
            # Packed: queued in a segment a batch has claimed (packing writes no item state).
            batch, claimed = self.redis.hmget(keys.segment(raw["segment"]), ["batch", "claimed_at"])
            if batch is not None:
                raw.update(state="packed", batch=text(batch), packed_at=text(claimed or b"0"))
        elif raw.get("state") == "submitted" and raw.get("batch"):
            # Succeeded: its batch stored the result, delivery has not written the state yet.
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(keys.results(raw["batch"]), item_id)
            pipe.hget(keys.batch(raw["batch"]), "settled_at")
            tail, settled = pipe.execute()
            if tail:
                raw.update(
                    state="succeeded", outcome="succeeded", succeeded_at=text(settled or b"0")
                )
        stamps = {
            name.removesuffix(TIMESTAMP): float(value)
            for name, value in raw.items()
            if name.endswith(TIMESTAMP)
        }
        return ItemStatus(
            id=item_id,
            state=raw.get("state", "unknown"),
            attempt=int(raw.get("attempt", "1")),
            batch_id=raw.get("batch"),
            outcome=raw.get("outcome"),
            code=raw.get("code"),
            message=raw.get("message"),
            history=raw.get("history", ""),
            timestamps=dict(
                sorted(stamps.items(), key=lambda kv: (kv[1], STATE_ORDER.get(kv[0], 99)))
            ),
            partition=keys.prefix,
        )

    @_riding_out_outages
    def result(self, item_id: str) -> dict[str, Any] | None:
        """The item's final result (succeeded or dead), or None while it has none."""
        raw = read_results(self.redis, {item_id: self.locate(item_id)})[item_id].raw
        return None if raw is None else dict(orjson.loads(raw))

    def wait(self, item_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the item has a final result and return it; raise WaitTimeout. A Redis
        restart or failover meanwhile is ridden out (RedisUnavailable only past
        BATCHRELAY_PRODUCER_RETRY_SECONDS without Redis)."""
        keys = self.locate(item_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        outage = self._writer.outage()
        while True:
            block = WAIT_SLICE
            if deadline is not None:
                block = min(block, deadline - time.monotonic())
                if block <= 0:
                    raise WaitTimeout(f"item {item_id!r} has no result after {timeout}s")
            try:
                raw = self._wait_once(item_id, keys, block)
            except REDIS_DOWN as error:
                time.sleep(min(outage.failed(error), max(block, 0.0)))
                continue
            outage.ended()
            if raw is not None:
                return dict(orjson.loads(raw))

    def _wait_once(self, item_id: str, keys: PartitionKeys, block: float) -> bytes | None:
        """The item's result, else block up to ``block`` seconds for the wake-up; None if
        there is no result yet."""
        # Announce the waiter before looking for the result: a result stored after the look
        # then always finds the flag and pushes the wake-up.
        self.redis.set(keys.waiting(item_id), b"1", ex=int(WAIT_SLICE) + 30)
        raw = read_results(self.redis, {item_id: keys})[item_id].raw
        if raw is not None:
            return raw
        if self.redis.blpop([keys.notify(item_id)], timeout=block) is not None:
            # Put the token back so every other waiter on this item wakes up too.
            self.redis.rpush(keys.notify(item_id), b"1")
            self.redis.expire(keys.notify(item_id), 300)
        return None

    @_riding_out_outages
    def locate_many(self, item_ids: Iterable[str]) -> dict[str, PartitionKeys]:
        """The partition of each known id (unknown ids are left out), in one round trip."""
        ids = list(item_ids)
        out = self._locate(ids, self._tags)
        if len(out) < len(ids):
            # The registry only grows: read it again only when an id was not found.
            fresh = list(self.partitions())
            if fresh != self._tags:
                self._tags = fresh
                out = self._locate(ids, fresh)
        return out

    def _locate(self, ids: list[str], tags: list[str]) -> dict[str, PartitionKeys]:
        pipe = self.redis.pipeline(transaction=False)
        for item_id in ids:
            for tag in tags:
                pipe.exists(self.keys.partition(tag).item(item_id))
        found = iter(pipe.execute())
        out: dict[str, PartitionKeys] = {}
        for item_id in ids:
            for tag in tags:
                if next(found):
                    out[item_id] = self.keys.partition(tag)
        return out

    @_riding_out_outages
    def states(self, item_ids: Iterable[str]) -> dict[str, str]:
        """The current state of each known id, pipelined."""
        located = self.locate_many(item_ids)
        stored = read_results(self.redis, located, ("segment",), wanted=lambda _fields: False)
        out = {item_id: r.state for item_id, r in stored.items()}
        queued = {  # item id -> key of the segment it is queued in
            item_id: located[item_id].segment(r.fields["segment"])
            for item_id, r in stored.items()
            if r.state == "queued" and r.fields["segment"]
        }
        segments = sorted(set(queued.values()))
        pipe = self.redis.pipeline(transaction=False)
        for key in segments:
            pipe.hexists(key, "batch")
        claimed = {key for key, owned in zip(segments, pipe.execute(), strict=True) if owned}
        out.update({i: "packed" for i, key in queued.items() if key in claimed})
        return out

    @_riding_out_outages
    def request_line(self, item_id: str) -> bytes | None:
        """The item's request line as it goes into a batch file; raise ItemNotFound."""
        keys = self.locate(item_id)
        line, segment = self.redis.hmget(keys.item(item_id), ["line", "segment"])
        if line is not None or segment is None:
            return cast(bytes | None, line)
        position = self.redis.lpos(keys.segment_ids(text(segment)), item_id)
        if not isinstance(position, int):
            return None
        return cast(bytes | None, self.redis.lindex(keys.segment_lines(text(segment)), position))

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

    def iter_results(self, item_ids: Iterable[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """(id, result or None) for each known id, pipelined."""
        located = self.locate_many(item_ids)
        stored_results = self._writer.outage().call(lambda: read_results(self.redis, located))
        for item_id, stored in stored_results.items():
            yield item_id, None if stored.raw is None else dict(orjson.loads(stored.raw))
