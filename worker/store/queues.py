"""Queues: each partition's queue of segments, from promote to claim and read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from producers.keys import batch_partition
from producers.replies import text
from worker.store.calls import ClaimSegments, Promote, Withdraw
from worker.store.part import StorePart

SEGMENTS_PER_READ = 5


@dataclass(frozen=True)
class Limits:
    """What a batch may still take: requests, bytes, embedding inputs, tokens (-1: no budget)."""

    items: int
    bytes: int
    inputs: int
    tokens: int


@dataclass(frozen=True)
class SegmentClaim:
    """What one claim moved from the queue into a batch."""

    items: int
    bytes: int
    inputs: int
    tokens: int
    full: bool
    exhausted: bool
    segments: list[str]


class Queues(StorePart):
    def depth(self, tag: str) -> int:
        """Items in the partition's queue (not counting those waiting out a backoff)."""
        return int(self.redis.hget(self.keys_of(tag).queue_state, "length") or 0)

    def withdraw(self, tag: str, code: str, message: str, limit: int = 50) -> int:
        """End the partition's waiting items (queued or in a retry backoff) as dead and
        delivered, with ``code``; up to ``limit`` segments and delayed items a call."""
        keys = self.keys_of(tag)
        call = Withdraw(
            queue=keys.queue,
            queue_state=keys.queue_state,
            delayed=keys.delayed,
            counts=keys.counts,
            item_prefix=keys.item_prefix,
            segment_prefix=keys.segment_prefix,
            now=repr(time.time()),
            result_ttl=self.settings.result_ttl,
            code=code,
            message=message,
            limit=limit,
        )
        return int(self.scripts.run(call))

    def oldest_enqueued(self, tag: str) -> float | None:
        """When the segment at the head of the queue opened, or None if the queue is empty."""
        keys = self.keys_of(tag)
        head = self.redis.lindex(keys.queue, 0)
        if head is None:
            return None
        stamp = self.redis.hget(keys.segment(text(head)), "opened_at")
        return float(stamp) if stamp else time.time()

    def promote_due(self, tag: str, now: float, limit: int = 10_000) -> int:
        """Queue the items whose retry backoff has passed."""
        keys = self.keys_of(tag)
        call = Promote(
            delayed=keys.delayed,
            queue=keys.queue,
            queue_state=keys.queue_state,
            now=repr(now),
            limit=limit,
            item_prefix=keys.item_prefix,
            segment_prefix=keys.segment_prefix,
        )
        return int(self.scripts.run(call))

    def claim_segments(self, batch_id: str, chunk: int, limits: Limits) -> SegmentClaim:
        """Move whole segments, about ``chunk`` items, from the queue into the packing batch,
        within what the batch may still take."""
        keys = self.keys.partition(batch_partition(batch_id))
        call = ClaimSegments(
            queue=keys.queue,
            queue_state=keys.queue_state,
            counts=keys.counts,
            batch=keys.batch(batch_id),
            batch_segments=keys.batch_segments(batch_id),
            now=repr(time.time()),
            batch_id=batch_id,
            segment_prefix=keys.segment_prefix,
            item_prefix=keys.item_prefix,
            chunk=chunk,
            max_items=limits.items,
            max_bytes=limits.bytes,
            max_inputs=limits.inputs,
            max_tokens=limits.tokens,
        )
        reply = self.scripts.run(call)
        items, size, inputs, tokens, full, exhausted = (int(n) for n in reply[:6])
        segments = [text(s) for s in reply[6:]]
        return SegmentClaim(items, size, inputs, tokens, bool(full), bool(exhausted), segments)

    def segment_lines(self, tag: str, segments: list[str]) -> Iterator[list[bytes]]:
        """The request lines of each segment, a few segments per round trip."""
        keys = self.keys_of(tag)
        for start in range(0, len(segments), SEGMENTS_PER_READ):
            pipe = self.redis.pipeline(transaction=False)
            for number in segments[start : start + SEGMENTS_PER_READ]:
                pipe.lrange(keys.segment_lines(number), 0, -1)
            yield from pipe.execute()
