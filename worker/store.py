"""The worker's view of Redis: batches, claims, outcomes and deliveries behind a few methods.

Every multi-key change runs as one of the Lua scripts in producers/lua; nothing here reads a
state in Python and writes a new one back.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis import Redis
from redis.exceptions import WatchError
from redis.lock import Lock

from producers import results
from producers.errors import BatchNotFound
from producers.keys import BATCH_ENTRY, Keys, PartitionKeys, batch_entry, batch_partition
from producers.producer import text
from producers.replication import Replication
from producers.results import StoredResult, read_results
from producers.scripts import Scripts
from producers.settings import Settings
from producers.status import TERMINAL_BATCH_STATES, BatchState

SEGMENTS_PER_READ = 5
DELIVERY_FIELDS = ("cb", "dl_task", "wh_tries")


@dataclass(frozen=True)
class Partition:
    """One (endpoint, model) partition."""

    tag: str
    endpoint: str
    model: str


@dataclass(frozen=True)
class Claim:
    """What one claim call moved into a batch."""

    count: int
    size: int
    inputs: int
    tokens: int
    full: bool
    exhausted: bool
    segments: list[str]


@dataclass(frozen=True)
class Batch:
    """One of our batches as stored."""

    id: str
    partition: str
    state: str
    fields: dict[str, str]

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    def number(self, name: str) -> float:
        return float(self.fields.get(name) or 0)

    @property
    def openai_id(self) -> str | None:
        return self.fields.get("openai_id") or None


@dataclass(slots=True)  # one per output line: not frozen, whose __init__ costs more
class Outcome:
    """How one item of a batch ended, before it is stored: kind is ok|retry|requeue|dead."""

    item_id: str
    kind: str
    response: Any = None
    error: Any = None
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class Settled:
    """What one settle call changed; ``finished`` items now await delivery."""

    succeeded: int
    retried: int
    dead: int
    skipped: int
    finished: list[str]


def result_tail(batch: Batch, o: Outcome) -> bytes:
    """The result JSON of an outcome without its opening brace and the item's own fields."""
    error = None if o.kind == "ok" else o.error or {"code": o.code, "message": o.message}
    status = "succeeded" if o.kind == "ok" else "dead"
    return results.result_tail(o.item_id, status, o.response, error, batch.id, batch.openai_id)


def decode(raw: Any) -> dict[str, str]:
    return {text(k): text(v) for k, v in raw.items()}


class Store:
    """Batch-side storage operations of one namespace."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.namespace)
        self.scripts = Scripts(redis)
        self.replication = Replication(
            redis, settings.redis_min_replicas, settings.redis_wait_ms, self.keys.fence
        )

    def pk(self, ptag: str) -> PartitionKeys:
        return self.keys.partition(ptag)

    # -- partitions and the queue ---------------------------------------------------------

    def partitions(self) -> list[Partition]:
        raw = self.redis.hgetall(self.keys.partitions)
        out = []
        for tag, info in raw.items():
            data = orjson.loads(info)
            out.append(Partition(text(tag), data["endpoint"], data["model"]))
        return sorted(out, key=lambda p: p.tag)

    def partition(self, ptag: str) -> Partition:
        raw = self.redis.hget(self.keys.partitions, ptag)
        if raw is None:
            raise KeyError(f"unknown partition {ptag}")
        data = orjson.loads(raw)
        return Partition(ptag, data["endpoint"], data["model"])

    def promote_due(self, ptag: str, now: float, limit: int = 10_000) -> int:
        """Queue the items whose retry backoff has passed."""
        pk = self.pk(ptag)
        keys = [pk.delayed, pk.queue, pk.queue_state]
        args = [repr(now), limit, pk.item_prefix, pk.segment_prefix]
        return int(self.scripts.run("promote", keys, args))

    def queue_depth(self, ptag: str) -> int:
        return int(self.redis.hget(self.pk(ptag).queue_state, "len") or 0)

    def oldest_enqueued(self, ptag: str) -> float | None:
        """When the segment at the head of the queue opened, or None if the queue is empty."""
        pk = self.pk(ptag)
        head = self.redis.lindex(pk.queue, 0)
        if head is None:
            return None
        stamp = self.redis.hget(pk.segment(text(head)), "t0")
        return float(stamp) if stamp else time.time()

    def meta(self, ptag: str) -> dict[str, str]:
        return decode(self.redis.hgetall(self.pk(ptag).meta))

    def add_meta(self, ptag: str, name: str, amount: float) -> None:
        self.redis.hincrbyfloat(self.pk(ptag).meta, name, amount)

    def set_meta(self, ptag: str, **fields: Any) -> None:
        self.redis.hset(self.pk(ptag).meta, mapping={k: str(v) for k, v in fields.items()})

    def counts(self, ptag: str) -> dict[str, int]:
        return {
            k: int(float(v)) for k, v in decode(self.redis.hgetall(self.pk(ptag).counts)).items()
        }

    def add_count(self, ptag: str, name: str, amount: int) -> None:
        self.redis.hincrby(self.pk(ptag).counts, name, amount)

    # -- locks ------------------------------------------------------------------------------

    def lock(self, name: str, ttl: float) -> Lock:
        """A non-blocking lease lock (redis-py's Lock: token owned, released by Lua)."""
        return cast(Lock, self.redis.lock(name, timeout=ttl, blocking=False))

    def batch_lock(self, batch_id: str) -> Lock:
        """The lock one submit or collect of a batch holds, for a lease."""
        key = self.pk(batch_partition(batch_id)).batch_lock(batch_id)
        return self.lock(key, self.settings.lease_seconds)

    def pack_lock(self, ptag: str) -> Lock:
        """The lock of a partition's one aggregation pass, for a lease."""
        return self.lock(self.pk(ptag).pack_lock, self.settings.lease_seconds)

    def packing(self, ptag: str) -> bool:
        """Whether a packer holds the partition's lock right now."""
        return bool(self.redis.exists(self.pk(ptag).pack_lock))

    # -- batches ----------------------------------------------------------------------------

    def new_batch_id(self, ptag: str) -> str:
        return f"brb-{ptag}-{int(time.time()):x}{secrets.token_hex(4)}"

    def transition(
        self,
        batch_id: str,
        expected: str,
        new: BatchState | str,
        *,
        lease: bool = False,
        live: str = "",
        **fields: Any,
    ) -> bool:
        """Move a batch from one of ``expected`` (comma separated, or 'new') to ``new``."""
        pk = self.pk(batch_partition(batch_id))
        now = time.time()
        deadline = repr(now + self.settings.lease_seconds) if lease else ""
        # A finished batch is forgotten with its items' results.
        expire = self.settings.result_ttl if new in TERMINAL_BATCH_STATES else ""
        args: list[Any] = [batch_id, expected, str(new), repr(now), deadline, live, expire]
        args.append(pk.segment_prefix)
        for name, value in fields.items():
            args += (name, "" if value is None else str(value))
        keys = [pk.batch(batch_id), pk.leases, pk.live, pk.batches, pk.members(batch_id)]
        return bool(self.scripts.run("batch_transition", keys, args))

    def renew_lease(self, batch_id: str) -> None:
        pk = self.pk(batch_partition(batch_id))
        self.redis.zadd(pk.leases, {batch_id: time.time() + self.settings.lease_seconds}, xx=True)

    def record_failure(self, batch_id: str, step: str, error: object) -> int:
        """Count a failed try of ``step`` (submit, collect) on the batch; returns the count."""
        pipe = self.redis.pipeline(transaction=True)
        key = self.pk(batch_partition(batch_id)).batch(batch_id)
        pipe.hincrby(key, f"{step}_tries", 1)
        pipe.hset(key, "last_error", str(error)[:300])
        return int(pipe.execute()[0])

    def drop_lease(self, batch_id: str) -> None:
        self.redis.zrem(self.pk(batch_partition(batch_id)).leases, batch_id)

    def set_batch(self, batch_id: str, **fields: Any) -> None:
        pk = self.pk(batch_partition(batch_id))
        self.redis.hset(pk.batch(batch_id), mapping={k: str(v) for k, v in fields.items()})

    def batch(self, batch_id: str) -> Batch:
        ptag = batch_partition(batch_id)
        fields = decode(self.redis.hgetall(self.pk(ptag).batch(batch_id)))
        if not fields:
            raise BatchNotFound(batch_id)
        return Batch(batch_id, ptag, fields.get("st", ""), fields)

    def batch_ids(self, ptag: str, newest_first: bool = True, limit: int = 100) -> list[str]:
        raw = self.redis.zrange(self.pk(ptag).batches, 0, limit - 1, desc=newest_first)
        return [text(b) for b in raw]

    def live_batches(self) -> list[str]:
        out: list[str] = []
        for p in self.partitions():
            out += sorted(text(b) for b in self.redis.smembers(self.pk(p.tag).live))
        return out

    def expired_leases(self, now: float) -> list[str]:
        out: list[str] = []
        for p in self.partitions():
            out += [text(b) for b in self.redis.zrangebyscore(self.pk(p.tag).leases, "-inf", now)]
        return out

    def record_poll(self, started: float, ended: float, polled: int) -> None:
        entry = orjson.dumps({"start": started, "end": ended, "polled": polled})
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(self.keys.polls, entry)
        pipe.ltrim(self.keys.polls, 0, 999)
        pipe.execute()

    # -- files at the provider --------------------------------------------------------------

    def record_upload(self, batch_id: str, file_id: str) -> None:
        """Record the batch's uploaded input file and, unless BATCHRELAY_KEEP_FILES, enter
        the batch for file cleanup (due once its lease would have passed)."""
        pk = self.pk(batch_partition(batch_id))
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(pk.batch(batch_id), "input_file_id", file_id)
        if not self.settings.keep_files:
            pipe.zadd(pk.file_cleanup, {batch_id: time.time() + self.settings.lease_seconds})
        pipe.execute()

    def due_file_cleanups(self, ptag: str, now: float, limit: int) -> list[str]:
        """Batches of the partition whose files are due to be looked at."""
        due = self.redis.zrangebyscore(self.pk(ptag).file_cleanup, "-inf", now, 0, limit)
        return [text(b) for b in due]

    def defer_file_cleanup(self, batch_id: str, when: float) -> None:
        pk = self.pk(batch_partition(batch_id))
        self.redis.zadd(pk.file_cleanup, {batch_id: when}, xx=True)

    def end_file_cleanup(self, batch_id: str) -> None:
        self.redis.zrem(self.pk(batch_partition(batch_id)).file_cleanup, batch_id)

    def files_awaiting_cleanup(self) -> int:
        """Batches whose files are still at the provider, over every partition."""
        pipe = self.redis.pipeline(transaction=False)
        for partition in self.partitions():
            pipe.zcard(self.pk(partition.tag).file_cleanup)
        return sum(int(n) for n in pipe.execute())

    # -- packing ----------------------------------------------------------------------------

    def claim(self, batch_id: str, chunk: int, limits: tuple[int, int, int, int]) -> Claim:
        """Move whole segments, about ``chunk`` items, from the queue into the packing batch,
        within the remaining (requests, bytes, embedding inputs, tokens or -1) limits."""
        pk = self.pk(batch_partition(batch_id))
        args = [repr(time.time()), batch_id, pk.segment_prefix, pk.item_prefix, chunk, *limits]
        keys = [pk.queue, pk.queue_state, pk.counts, pk.batch(batch_id), pk.members(batch_id)]
        reply = self.scripts.run("claim", keys, args)
        count, size, inputs, tokens, full, exhausted = (int(n) for n in reply[:6])
        segments = [text(s) for s in reply[6:]]
        return Claim(count, size, inputs, tokens, bool(full), bool(exhausted), segments)

    def segment_lines(self, ptag: str, segments: list[str]) -> Iterator[list[bytes]]:
        """The request lines of each segment, a few segments per round trip."""
        pk = self.pk(ptag)
        for start in range(0, len(segments), SEGMENTS_PER_READ):
            pipe = self.redis.pipeline(transaction=False)
            for number in segments[start : start + SEGMENTS_PER_READ]:
                pipe.lrange(pk.segment_lines(number), 0, -1)
            yield from pipe.execute()

    def segments(self, batch_id: str) -> list[str]:
        """The numbers of the batch's segments, in file order."""
        pk = self.pk(batch_partition(batch_id))
        return [text(m) for m in self.redis.lrange(pk.members(batch_id), 0, -1)]

    def _segment_ids(self, batch_id: str) -> Iterator[tuple[str, list[str], int]]:
        """(segment number, its item ids, its callbacks bound) of each of the batch's segments,
        in file order."""
        pk = self.pk(batch_partition(batch_id))
        segments = self.segments(batch_id)
        for start in range(0, len(segments), SEGMENTS_PER_READ):
            part = segments[start : start + SEGMENTS_PER_READ]
            pipe = self.redis.pipeline(transaction=False)
            for number in part:
                pipe.lrange(pk.segment_ids(number), 0, -1)
                pipe.hget(pk.segment(number), "cbs")
            replies = pipe.execute()
            for n, number in enumerate(part):
                ids, callbacks = replies[2 * n], replies[2 * n + 1]
                yield number, [text(i) for i in ids], int(callbacks or 0)

    def member_sets(self, batch_id: str) -> tuple[set[str], set[str]]:
        """The batch's members, and those of them in segments where no item has a callback."""
        members: set[str] = set()
        without: set[str] = set()
        for _, ids, callbacks in self._segment_ids(batch_id):
            members.update(ids)
            if not callbacks:
                without.update(ids)
        return members, without

    def members(self, batch_id: str) -> list[str]:
        """The batch's item ids, in file order."""
        return [i for _, ids, _ in self._segment_ids(batch_id) for i in ids]

    def batch_lines(self, batch_id: str) -> Iterator[bytes]:
        """The request lines of a batch's members, in file order, read by segments."""
        for lines in self.segment_lines(batch_partition(batch_id), self.segments(batch_id)):
            yield from lines

    def mark_submitted(self, batch_id: str) -> int:
        """Mark the batch's packed members submitted, one script call per segment."""
        pk = self.pk(batch_partition(batch_id))
        now = repr(time.time())
        moved = 0
        for number in self.segments(batch_id):
            keys = [pk.segment(number), pk.segment_ids(number), pk.counts]
            args = [batch_id, pk.item_prefix, number, now]
            moved += int(self.scripts.run("members_state", keys, args))
        return moved

    def release_members(self, batch_id: str, note: str = "") -> int:
        """Return the packed members of a batch never submitted to the front of the queue."""
        pk = self.pk(batch_partition(batch_id))
        keys = [pk.members(batch_id), pk.counts, pk.queue, pk.queue_state]
        args = [batch_id, pk.item_prefix, pk.segment_prefix, repr(time.time()), note]
        return int(self.scripts.run("release_members", keys, args))

    def unsettled(self, batch_id: str) -> Iterator[list[str]]:
        """Chunks of the batch's members still in flight in it (packed or submitted)."""
        pk = self.pk(batch_partition(batch_id))
        mine = batch_id.encode()
        for number, ids, _ in self._segment_ids(batch_id):
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(pk.segment(number), "owner")
            pipe.hmget(pk.results(batch_id), ids)
            for item_id in ids:
                pipe.hmget(pk.item(item_id), "st", "b", "sg")
            owner, settled, *fields = pipe.execute()
            packed = owner == mine
            seg = number.encode()
            out = [
                item_id
                for item_id, done, (st, b, sg) in zip(ids, settled, fields, strict=True)
                if done is None
                and (
                    (st == b"submitted" and b == mine) or (packed and st == b"queued" and sg == seg)
                )
            ]
            if out:
                yield out

    # -- outcomes ---------------------------------------------------------------------------

    def settle(self, batch: Batch, outcomes: list[Outcome]) -> Settled:
        """Store a chunk of outcomes: results for finished items, requeue or dead-letter the
        rest. Items no longer in flight in this batch are skipped."""
        if not outcomes:
            return Settled(0, 0, 0, 0, [])
        pk = self.pk(batch.partition)
        s = self.settings
        args: list[Any] = [
            batch.id, pk.item_prefix, pk.segment_prefix, pk.notify(""), pk.waiting(""),
            repr(time.time()), s.result_ttl, s.max_attempts, s.retry_backoff,
            s.retry_backoff_max, s.lease_seconds,
        ]  # fmt: skip
        for o in outcomes:
            tail = b"" if o.kind == "requeue" else result_tail(batch, o)
            args += (o.item_id, o.kind, tail, o.code, o.message[:1000])
        keys = [pk.counts, pk.undelivered, pk.delayed, pk.dead, pk.results(batch.id)]
        reply = self.scripts.run("settle", keys, args)
        ok, retried, dead, skipped = (int(n) for n in reply[:4])
        return Settled(ok, retried, dead, skipped, [text(i) for i in reply[4:]])

    # -- deliveries -------------------------------------------------------------------------

    def due_deliveries(self, ptag: str, now: float, limit: int) -> list[str]:
        """Lease again up to ``limit`` undelivered entries whose lease passed, and return
        their items: a batch's entry stands for every bulk-stored success of the batch that
        no delivery task has claimed yet (up to 50,000)."""
        pk = self.pk(ptag)
        due = [text(i) for i in self.redis.zrangebyscore(pk.undelivered, "-inf", now, 0, limit)]
        if not due:
            return []
        lease = now + self.settings.lease_seconds
        self.redis.zadd(pk.undelivered, dict.fromkeys(due, lease), xx=True)
        ids = [i for i in due if not i.startswith(BATCH_ENTRY)]
        for entry in (e for e in due if e.startswith(BATCH_ENTRY)):
            ids += self._unclaimed_successes(ptag, entry.removeprefix(BATCH_ENTRY))
        return ids

    def _unclaimed_successes(self, ptag: str, batch_id: str) -> list[str]:
        """The batch's bulk-stored successes no delivery task has claimed: still 'submitted'
        in this batch, with no entry of their own in undelivered (their dispatch was lost with
        a collector that died). With none left, the batch's entry goes."""
        pk = self.pk(ptag)
        found: list[str] = []
        with self.redis.pipeline() as guard:
            # A settle or a claim meanwhile keeps the entry.
            guard.watch(pk.batch(batch_id))  # type: ignore[no-untyped-call]
            ids = [text(i) for i in self.redis.hkeys(pk.results(batch_id))]  # at most 50,000
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                pipe = self.redis.pipeline(transaction=False)
                for item_id in chunk:
                    pipe.hmget(pk.item(item_id), ["st", "b"])
                    pipe.zscore(pk.undelivered, item_id)
                replies = pipe.execute()
                for n, item_id in enumerate(chunk):
                    (st, b), own_entry = replies[2 * n], replies[2 * n + 1]
                    where = (text(st or ""), text(b or ""))
                    if own_entry is None and where == ("submitted", batch_id):
                        found.append(item_id)
            if not found:
                guard.multi()
                guard.zrem(pk.undelivered, batch_entry(batch_id))
                guard.hdel(pk.batch(batch_id), "unclaimed")
                with suppress(WatchError):
                    guard.execute()
        return found

    def claim_deliveries(self, ptag: str, ids: list[str]) -> list[str]:
        """The ids this delivery task may deliver now (no other task holds them). Items
        without a callback are marked delivered on the way (their Redis result is theirs)."""
        pk = self.pk(ptag)
        now = time.time()
        deadline = repr(now + self.settings.lease_seconds)
        args = [
            pk.item_prefix, repr(now), deadline, pk.results(""), pk.batch(""),
            self.settings.result_ttl, BATCH_ENTRY, *ids,
        ]  # fmt: skip
        keys = [pk.undelivered, pk.counts]
        return [text(i) for i in self.scripts.run("claim_delivery", keys, args)]

    def delivery_payloads(self, ptag: str, ids: list[str]) -> dict[str, StoredResult]:
        """The result, state and delivery fields of each id."""
        pk = self.pk(ptag)
        return read_results(self.redis, dict.fromkeys(ids, pk), DELIVERY_FIELDS)

    def mark_item(self, ptag: str, item_id: str, **fields: Any) -> None:
        self.redis.hset(self.pk(ptag).item(item_id), mapping={k: str(v) for k, v in fields.items()})

    def retry_delivery_at(self, ptag: str, item_id: str, when: float) -> None:
        self.redis.zadd(self.pk(ptag).undelivered, {item_id: when})

    def delivered(self, ptag: str, ids: list[str]) -> int:
        if not ids:
            return 0
        pk = self.pk(ptag)
        args = [
            pk.item_prefix, repr(time.time()), pk.results(""), pk.batch(""),
            self.settings.result_ttl, *ids,
        ]  # fmt: skip
        return int(self.scripts.run("delivered", [pk.counts, pk.undelivered], args))

    def dead_letter_delivery(self, ptag: str, item_id: str, reason: str) -> None:
        """Give up delivering to a webhook: record why, and keep the item retryable by hand."""
        pk = self.pk(ptag)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(pk.item(item_id), mapping={"dl_err": reason[:500]})
        pipe.zadd(pk.dead, {item_id: time.time()})
        pipe.hincrby(pk.counts, "webhook_dead", 1)
        pipe.execute()

    def forget_finished(self, ptag: str, now: float) -> None:
        """Drop index entries older than the results: finished batches and dead letters
        whose hashes have expired (or are about to)."""
        pk = self.pk(ptag)
        horizon = now - self.settings.result_ttl
        pipe = self.redis.pipeline(transaction=False)
        pipe.zremrangebyscore(pk.batches, "-inf", horizon)
        pipe.zremrangebyscore(pk.dead, "-inf", horizon)
        pipe.execute()

    def revive(self, ptag: str, reason: str = "", limit: int = 1_000_000) -> int:
        pk = self.pk(ptag)
        args = [pk.item_prefix, repr(time.time()), reason, limit]
        args.append(pk.segment_prefix)
        keys = [pk.dead, pk.queue, pk.queue_state, pk.counts]
        return int(self.scripts.run("revive", keys, args))
