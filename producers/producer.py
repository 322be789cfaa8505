"""The producer SDK: submit work items to Redis and read their results. Needs no Celery."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis import Redis
from redis.exceptions import ResponseError

from producers.errors import (
    BatchrelayError,
    InvalidItem,
    ItemNotFound,
    QueueFull,
    Rejection,
    WaitTimeout,
)
from producers.keys import Keys, PartitionKeys, partition_tag
from producers.models import PreparedItem, WorkItem, prepare
from producers.results import read_results
from producers.scripts import NoScriptError, Scripts
from producers.sending import SUBMIT_CHUNK, SubmitReport, WindowSender
from producers.settings import Settings
from producers.status import ItemState

STATE_ORDER = {state.value: n for n, state in enumerate(ItemState)}
WAIT_SLICE = 60.0  # a waiter re-announces itself this often, so its flag never lapses


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# One chunk per window, two windows in flight (producers/sending.py): Redis gets the next
# chunk while it runs one, and never waits long for it. (Four chunks per round trip on sender
# threads left Redis idle a fifth of the time.)
WINDOW = SUBMIT_CHUNK
IN_FLIGHT = 2
UNREGISTERED = [-2]  # submit.lua's reply when Redis lost the partition's registration
REGISTRY_REFRESH = 60.0  # a producer writes each partition's registry entry again this often


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
    """Submits work items and reads their results; one per process is plenty (thread-safe)."""

    def __init__(self, redis: Redis, settings: Settings | None = None) -> None:
        self.redis = redis
        self.settings = settings or Settings()
        self.keys = Keys(self.settings.namespace)
        self.scripts = Scripts(redis)
        self._tags: list[str] = []  # partition tags seen so far (see locate_many)
        self._registered: dict[str, float] = {}  # partition tag -> when registered (monotonic)

    @classmethod
    def from_url(cls, url: str | None = None, **settings: Any) -> Producer:
        """A producer for the Redis at ``url`` (default: BATCHRELAY_REDIS_URL)."""
        config = Settings(**settings) if url is None else Settings.from_dsn(url, **settings)
        return cls(Redis.from_url(config.redis_url), config)

    def close(self) -> None:
        self.redis.close()

    # -- submitting -------------------------------------------------------------------------

    def submit(self, item: WorkItem | dict[str, Any]) -> str:
        """Store one item (once per id) and return its id; raise InvalidItem or QueueFull."""
        prepared = prepare(item, None, self.settings.item_byte_limit())
        ptag = partition_tag(prepared.endpoint, prepared.model)
        if self.store_chunk(ptag, [prepared], repr(time.time()))[0] == -1:
            raise QueueFull(ptag, self.settings.max_queued, [prepared.id])
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
        sender = WindowSender(self, IN_FLIGHT)
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

    def needs_registration(self, ptag: str) -> bool:
        """Whether to write the partition's registry entry before storing into it: on this
        producer's first chunk for it, and again every REGISTRY_REFRESH seconds, so a registry
        entry lost while Redis kept the partition's mark comes back."""
        registered = self._registered.get(ptag)
        return registered is None or time.monotonic() - registered > REGISTRY_REFRESH

    def register(self, ptag: str, item: PreparedItem) -> None:
        """Write the registry entry of ``item``'s partition, ``ptag``: a round trip of its own,
        so the script that marks the partition registered runs only after it succeeded."""
        info = orjson.dumps({"endpoint": item.endpoint, "model": item.model})
        self.redis.hsetnx(self.keys.partitions, ptag, info)

    def submit_command(
        self, ptag: str, chunk: list[PreparedItem], now: str, registered: bool
    ) -> tuple[Any, ...]:
        """submit.lua over a chunk of one partition's items; ``registered``: the caller has
        just written the partition's registry entry (see register())."""
        pk = self.keys.partition(ptag)
        # One argument for the whole chunk: cheaper to send and to unpack than five per item.
        records = b"\n".join([p.record for p in chunk])
        args = [now, self.settings.max_queued, pk.item_prefix, pk.segment_prefix, records]
        keys = [pk.queue, pk.queue_state, pk.delayed, pk.counts]
        return ("EVALSHA", self.scripts.sha("submit"), len(keys), *keys, *args, int(registered))

    def submit_codes(self, ptag: str, reply: Any, registered: bool) -> list[int] | None:
        """submit.lua's code for each item of a chunk from its reply (an error reply as an
        exception), or None when the chunk did not run and must be sent again."""
        if isinstance(reply, NoScriptError):  # Redis restarted and forgot the script
            self.scripts.load()
            return None
        if isinstance(reply, Exception):
            raise reply
        if reply == UNREGISTERED:  # Redis lost the partition's mark (and its registry entry)
            self._registered.pop(ptag, None)
            return None
        if registered:
            self._registered[ptag] = time.monotonic()
        return cast(list[int], reply)

    def store_chunk(self, ptag: str, chunk: list[PreparedItem], now: str) -> list[int]:
        """Store a chunk of one partition's items; one code per item (submit.lua). One round
        trip; more to register the partition, and when Redis forgot the script or the
        partition's registration."""
        register = self.needs_registration(ptag)
        for _ in range(4):
            if register:
                self.register(ptag, chunk[0])
            try:
                command = self.submit_command(ptag, chunk, now, register)
                reply = self.redis.execute_command(*command)  # type: ignore[no-untyped-call]
            except ResponseError as error:
                reply = error
            codes = self.submit_codes(ptag, reply, register)
            if codes is not None:
                return codes
            register = register or reply == UNREGISTERED
        raise BatchrelayError(f"the submit script did not run for partition {ptag} in 4 tries")

    # -- reading ----------------------------------------------------------------------------

    def partitions(self) -> dict[str, dict[str, str]]:
        """Every known partition: tag -> {endpoint, model}."""
        raw = self.redis.hgetall(self.keys.partitions)
        return {text(k): orjson.loads(v) for k, v in raw.items()}

    def locate(self, item_id: str) -> PartitionKeys:
        """The keys of the partition holding ``item_id``; raise ItemNotFound."""
        found = self.locate_many([item_id])
        if item_id not in found:
            raise ItemNotFound(item_id)
        return found[item_id]

    def status(self, item_id: str) -> ItemStatus:
        """The item's current state, attempt, batch and last error; raise ItemNotFound."""
        pk = self.locate(item_id)
        raw = {text(k): text(v) for k, v in self.redis.hgetall(pk.item(item_id)).items()}
        if raw.get("st") == "queued" and "sg" in raw:
            # Packed: queued in a segment a batch has claimed (packing writes no item state).
            owner, claimed = self.redis.hmget(pk.segment(raw["sg"]), ["owner", "t_claimed"])
            if owner is not None:
                raw.update(st="packed", b=text(owner), t_packed=text(claimed or b"0"))
        elif raw.get("st") == "submitted" and raw.get("b"):
            # Succeeded: its batch stored the result, delivery has not written the state yet.
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(pk.results(raw["b"]), item_id)
            pipe.hget(pk.batch(raw["b"]), "t_settled")
            tail, settled = pipe.execute()
            if tail:
                raw.update(st="succeeded", out="succeeded", t_succeeded=text(settled or b"0"))
        stamps = {k[2:]: float(v) for k, v in raw.items() if k.startswith("t_")}
        return ItemStatus(
            id=item_id,
            state=raw.get("st", "unknown"),
            attempt=int(raw.get("att", "1")),
            batch_id=raw.get("b"),
            outcome=raw.get("out"),
            code=raw.get("code"),
            message=raw.get("msg"),
            history=raw.get("hist", ""),
            timestamps=dict(
                sorted(stamps.items(), key=lambda kv: (kv[1], STATE_ORDER.get(kv[0], 99)))
            ),
            partition=pk.prefix,
        )

    def result(self, item_id: str) -> dict[str, Any] | None:
        """The item's final result (succeeded or dead), or None while it has none."""
        raw = read_results(self.redis, {item_id: self.locate(item_id)})[item_id].raw
        return None if raw is None else dict(orjson.loads(raw))

    def wait(self, item_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the item has a final result and return it; raise WaitTimeout."""
        pk = self.locate(item_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # Announce the waiter before looking for the result: a result stored after the
            # look then always finds the flag and pushes the wake-up.
            self.redis.set(pk.waiting(item_id), b"1", ex=int(WAIT_SLICE) + 30)
            raw = read_results(self.redis, {item_id: pk})[item_id].raw
            if raw is not None:
                return dict(orjson.loads(raw))
            block = WAIT_SLICE
            if deadline is not None:
                block = min(block, deadline - time.monotonic())
                if block <= 0:
                    raise WaitTimeout(f"item {item_id!r} has no result after {timeout}s")
            if self.redis.blpop([pk.notify(item_id)], timeout=block) is not None:
                # Put the token back so every other waiter on this item wakes up too.
                self.redis.rpush(pk.notify(item_id), b"1")
                self.redis.expire(pk.notify(item_id), 300)

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
            for ptag in tags:
                pipe.exists(self.keys.partition(ptag).item(item_id))
        found = iter(pipe.execute())
        out: dict[str, PartitionKeys] = {}
        for item_id in ids:
            for ptag in tags:
                if next(found):
                    out[item_id] = self.keys.partition(ptag)
        return out

    def states(self, item_ids: Iterable[str]) -> dict[str, str]:
        """The current state of each known id, pipelined."""
        located = self.locate_many(item_ids)
        stored = read_results(self.redis, located, ("sg",), wanted=lambda fields: False)
        out = {item_id: r.state for item_id, r in stored.items()}
        queued = {  # item id -> key of the segment it is queued in
            item_id: located[item_id].segment(r.fields["sg"])
            for item_id, r in stored.items()
            if r.state == "queued" and r.fields["sg"]
        }
        segments = sorted(set(queued.values()))
        pipe = self.redis.pipeline(transaction=False)
        for key in segments:
            pipe.hexists(key, "owner")
        claimed = {key for key, owned in zip(segments, pipe.execute(), strict=True) if owned}
        out.update({i: "packed" for i, key in queued.items() if key in claimed})
        return out

    def request_line(self, item_id: str) -> bytes | None:
        """The item's request line as it goes into a batch file; raise ItemNotFound."""
        pk = self.locate(item_id)
        line, segment = self.redis.hmget(pk.item(item_id), ["line", "sg"])
        if line is not None or segment is None:
            return cast(bytes | None, line)
        position = self.redis.lpos(pk.segment_ids(text(segment)), item_id)
        if not isinstance(position, int):
            return None
        return cast(bytes | None, self.redis.lindex(pk.segment_lines(text(segment)), position))

    def iter_results(self, item_ids: Iterable[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """(id, result or None) for each known id, pipelined."""
        for item_id, stored in read_results(self.redis, self.locate_many(item_ids)).items():
            yield item_id, None if stored.raw is None else dict(orjson.loads(stored.raw))
