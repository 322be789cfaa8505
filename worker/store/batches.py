"""Batches: our batches' states, leases and the segments they own."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from producers.errors import BatchNotFound
from producers.keys import batch_partition
from producers.replies import text, text_hash
from producers.status import TERMINAL_BATCH_STATES, BatchState
from worker.store.calls import BatchTransition, MarkSubmitted, ReleaseSegments
from worker.store.part import StorePart
from worker.store.queues import SEGMENTS_PER_READ


@dataclass(frozen=True)
class Batch:
    """One of our batches as stored (its fields: producers/keys.md)."""

    id: str
    partition: str
    state: str
    fields: dict[str, str]

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    def number(self, name: str) -> float:
        return float(self.fields.get(name) or 0)

    @property
    def provider_id(self) -> str | None:
        """The batch's id at the provider, once it was created there."""
        return self.fields.get("provider_id") or None


@dataclass(frozen=True)
class SegmentItems:
    """One of a batch's segments: its number, its item ids, and whether any has a callback."""

    number: str
    ids: list[str]
    callbacks: int


class Batches(StorePart):
    def new_id(self, tag: str) -> str:
        return f"brb-{tag}-{int(time.time()):x}{secrets.token_hex(4)}"

    def get(self, batch_id: str) -> Batch:
        tag = batch_partition(batch_id)
        fields = text_hash(self.redis.hgetall(self.keys_of(tag).batch(batch_id)))
        if not fields:
            raise BatchNotFound(batch_id)
        return Batch(batch_id, tag, fields.get("state", ""), fields)

    def update(self, batch_id: str, **fields: Any) -> None:
        """Set fields of the batch that no transition depends on."""
        keys = self.store.keys_of_batch(batch_id)
        self.redis.hset(keys.batch(batch_id), mapping={k: str(v) for k, v in fields.items()})

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
        """Move a batch from one of ``expected`` (comma separated, or 'new') to ``new``,
        leased for a lease (or not), entering or leaving the live set (``live``: add | rem),
        setting ``fields``; False when it was in none of the expected states."""
        keys = self.store.keys_of_batch(batch_id)
        now = time.time()
        pairs: list[str] = []
        for name, value in fields.items():
            pairs += (name, "" if value is None else str(value))
        call = BatchTransition(
            batch=keys.batch(batch_id),
            leases=keys.leases,
            live=keys.live,
            batches=keys.batches,
            batch_segments=keys.batch_segments(batch_id),
            batch_id=batch_id,
            expected=expected,
            new_state=str(new),
            now=repr(now),
            lease_until=repr(now + self.settings.lease_seconds) if lease else "",
            live_change=live,
            # A finished batch is forgotten with its items' results.
            expire_after=self.settings.result_ttl if new in TERMINAL_BATCH_STATES else "",
            segment_prefix=keys.segment_prefix,
            fields=pairs,
        )
        return bool(self.scripts.run(call))

    def forget(self, batch_id: str, *names: str) -> None:
        """Delete fields of the batch that no transition depends on."""
        self.redis.hdel(self.store.keys_of_batch(batch_id).batch(batch_id), *names)

    def adopt(self, batch_id: str, provider: str, provider_id: str) -> bool:
        """Record that the provider's batch ``provider_id`` is ours ``batch_id``; False when
        another batch of ours has it already."""
        key = self.keys.provider_batch(provider, provider_id)
        self.redis.set(key, batch_id, nx=True, ex=self.settings.result_ttl)
        return text(self.redis.get(key) or b"") == batch_id

    def disown(self, batch_id: str, provider: str, provider_id: str) -> None:
        """Give up a provider's batch that turned out to be someone else's (ForeignBatch)."""
        key = self.keys.provider_batch(provider, provider_id)
        if text(self.redis.get(key) or b"") == batch_id:
            self.redis.delete(key)
        self.update(batch_id, foreign=1)

    def owner(self, provider: str, provider_id: str) -> str | None:
        """Which batch of ours a provider's batch is, if any."""
        found = self.redis.get(self.keys.provider_batch(provider, provider_id))
        return None if found is None else text(found)

    def renew_lease(self, batch_id: str) -> None:
        keys = self.store.keys_of_batch(batch_id)
        deadline = time.time() + self.settings.lease_seconds
        self.redis.zadd(keys.leases, {batch_id: deadline}, xx=True)

    def drop_lease(self, batch_id: str) -> None:
        self.redis.zrem(self.store.keys_of_batch(batch_id).leases, batch_id)

    def record_failure(self, batch_id: str, step: str, error: object) -> int:
        """Count a failed try of ``step`` (submit, collect) on the batch; returns the count."""
        key = self.store.keys_of_batch(batch_id).batch(batch_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key, f"{step}_tries", 1)
        pipe.hset(key, "last_error", str(error)[:300])
        return int(pipe.execute()[0])

    def ids(self, tag: str, newest_first: bool = True, limit: int = 100) -> list[str]:
        raw = self.redis.zrange(self.keys_of(tag).batches, 0, limit - 1, desc=newest_first)
        return [text(b) for b in raw]

    def live(self) -> list[str]:
        """Every batch submitted to the provider and not yet finished there."""
        out: list[str] = []
        for partition in self.store.partitions.all():
            out += sorted(text(b) for b in self.redis.smembers(self.keys_of(partition.tag).live))
        return out

    def expired_leases(self, now: float) -> list[str]:
        out: list[str] = []
        for partition in self.store.partitions.all():
            leases = self.keys_of(partition.tag).leases
            out += [text(b) for b in self.redis.zrangebyscore(leases, "-inf", now)]
        return out

    def record_poll(self, started: float, ended: float, polled: int) -> None:
        entry = orjson.dumps({"start": started, "end": ended, "polled": polled})
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(self.keys.polls, entry)
        pipe.ltrim(self.keys.polls, 0, 999)
        pipe.execute()

    # -- the batch's segments and items ----------------------------------------------------

    def segments(self, batch_id: str) -> list[str]:
        """The numbers of the batch's segments, in file order."""
        keys = self.store.keys_of_batch(batch_id)
        return [text(n) for n in self.redis.lrange(keys.batch_segments(batch_id), 0, -1)]

    def segment_items(self, batch_id: str) -> Iterator[SegmentItems]:
        """Each of the batch's segments with its item ids, in file order."""
        keys = self.store.keys_of_batch(batch_id)
        segments = self.segments(batch_id)
        for start in range(0, len(segments), SEGMENTS_PER_READ):
            part = segments[start : start + SEGMENTS_PER_READ]
            pipe = self.redis.pipeline(transaction=False)
            for number in part:
                pipe.lrange(keys.segment_ids(number), 0, -1)
                pipe.hget(keys.segment(number), "callbacks")
            replies = pipe.execute()
            for n, number in enumerate(part):
                ids, callbacks = replies[2 * n], replies[2 * n + 1]
                yield SegmentItems(number, [text(i) for i in ids], int(callbacks or 0))

    def item_ids(self, batch_id: str) -> list[str]:
        """The batch's item ids, in file order."""
        return [i for segment in self.segment_items(batch_id) for i in segment.ids]

    def item_id_sets(self, batch_id: str) -> tuple[set[str], set[str]]:
        """The batch's item ids, and those of them in segments where no item has a callback."""
        ids: set[str] = set()
        without: set[str] = set()
        for segment in self.segment_items(batch_id):
            ids.update(segment.ids)
            if not segment.callbacks:
                without.update(segment.ids)
        return ids, without

    def lines(self, batch_id: str) -> Iterator[bytes]:
        """The request lines of the batch's items, in file order, read by segments."""
        queues = self.store.queues
        for lines in queues.segment_lines(batch_partition(batch_id), self.segments(batch_id)):
            yield from lines

    def mark_submitted(self, batch_id: str) -> int:
        """Mark the batch's packed items submitted, one script call per segment."""
        keys = self.store.keys_of_batch(batch_id)
        now = repr(time.time())
        moved = 0
        for number in self.segments(batch_id):
            call = MarkSubmitted(
                segment=keys.segment(number),
                segment_ids=keys.segment_ids(number),
                counts=keys.counts,
                batch_id=batch_id,
                item_prefix=keys.item_prefix,
                segment_number=number,
                now=now,
            )
            moved += int(self.scripts.run(call))
        return moved

    def release_segments(self, batch_id: str, note: str = "") -> int:
        """Return the packed items of a batch never submitted to the front of the queue."""
        keys = self.store.keys_of_batch(batch_id)
        call = ReleaseSegments(
            batch_segments=keys.batch_segments(batch_id),
            counts=keys.counts,
            queue=keys.queue,
            queue_state=keys.queue_state,
            batch_id=batch_id,
            item_prefix=keys.item_prefix,
            segment_prefix=keys.segment_prefix,
            now=repr(time.time()),
            note=note,
        )
        return int(self.scripts.run(call))
