"""Outcomes: how each item of a batch ended, settled into results, retries and dead letters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from producers import results
from producers.replies import text
from worker.store.batches import Batch
from worker.store.calls import RetryDead, Settle
from worker.store.part import StorePart


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


def outcome_tail(batch: Batch, outcome: Outcome) -> bytes:
    """The result JSON of an outcome, without its opening brace and the item's own fields
    (producers.results.result_tail)."""
    error = None
    if outcome.kind != "ok":
        error = outcome.error or {"code": outcome.code, "message": outcome.message}
    status = "succeeded" if outcome.kind == "ok" else "dead"
    return results.result_tail(
        outcome.item_id, status, outcome.response, error, batch.id, batch.provider_id
    )


class Outcomes(StorePart):
    def settle(self, batch: Batch, outcomes: list[Outcome]) -> Settled:
        """Store a chunk of outcomes: results for finished items, requeue or dead-letter the
        rest. Items no longer in flight in this batch are skipped."""
        if not outcomes:
            return Settled(0, 0, 0, 0, [])
        keys = self.keys_of(batch.partition)
        settings = self.settings
        records: list[str | bytes] = []
        for o in outcomes:
            tail = b"" if o.kind == "requeue" else outcome_tail(batch, o)
            records += (o.item_id, o.kind, tail, o.code, o.message[:1000])
        call = Settle(
            counts=keys.counts,
            undelivered=keys.undelivered,
            delayed=keys.delayed,
            dead=keys.dead,
            results=keys.results(batch.id),
            batch_id=batch.id,
            item_prefix=keys.item_prefix,
            segment_prefix=keys.segment_prefix,
            notify_prefix=keys.notify(""),
            waiting_prefix=keys.waiting(""),
            now=repr(time.time()),
            result_ttl=settings.result_ttl,
            max_attempts=settings.max_attempts,
            backoff=settings.retry_backoff,
            backoff_max=settings.retry_backoff_max,
            delivery_lease=settings.lease_seconds,
            outcomes=records,
        )
        reply = self.scripts.run(call)
        succeeded, retried, dead, skipped = (int(n) for n in reply[:4])
        return Settled(succeeded, retried, dead, skipped, [text(i) for i in reply[4:]])

    def unsettled(self, batch_id: str) -> Iterator[list[str]]:
        """Chunks of the batch's items still in flight in it (packed or submitted)."""
        keys = self.store.keys_of_batch(batch_id)
        mine = batch_id.encode()
        for segment in self.store.batches.segment_items(batch_id):
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(keys.segment(segment.number), "batch")
            pipe.hmget(keys.results(batch_id), segment.ids)
            for item_id in segment.ids:
                pipe.hmget(keys.item(item_id), "state", "batch", "segment")
            claimed_by, settled, *fields = pipe.execute()
            packed = claimed_by == mine
            number = segment.number.encode()
            out = [
                item_id
                for item_id, done, (state, batch, in_segment) in zip(
                    segment.ids, settled, fields, strict=True
                )
                if done is None
                and (
                    (state == b"submitted" and batch == mine)
                    or (packed and state == b"queued" and in_segment == number)
                )
            ]
            if out:
                yield out

    def retry_dead(self, tag: str, reason: str = "", limit: int = 1_000_000) -> int:
        """Queue the partition's dead-lettered items again (those whose reason starts with
        ``reason``, or all), each for a first attempt."""
        keys = self.keys_of(tag)
        call = RetryDead(
            dead=keys.dead,
            queue=keys.queue,
            queue_state=keys.queue_state,
            counts=keys.counts,
            item_prefix=keys.item_prefix,
            now=repr(time.time()),
            reason=reason,
            limit=limit,
            segment_prefix=keys.segment_prefix,
        )
        return int(self.scripts.run(call))
