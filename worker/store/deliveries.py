"""Deliveries: which finished items await their callbacks, and who holds each."""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

from redis.exceptions import WatchError

from producers.keys import BATCH_ENTRY, batch_entry
from producers.replies import text
from producers.results import StoredResult, read_results
from worker.store.calls import MarkDelivered, TakeDeliveries
from worker.store.part import StorePart

DELIVERY_FIELDS = ("callback", "callback_sent", "webhook_tries")


class Deliveries(StorePart):
    def due(self, tag: str, now: float, limit: int) -> list[str]:
        """Lease again up to ``limit`` undelivered entries whose lease passed, and return
        their items: a batch's entry stands for every bulk-stored success of the batch that
        no delivery task has taken yet (up to 50,000). Read, then written: housekeeping, the
        only caller, holds its lock."""
        keys = self.keys_of(tag)
        due = [text(i) for i in self.redis.zrangebyscore(keys.undelivered, "-inf", now, 0, limit)]
        if not due:
            return []
        lease = now + self.settings.lease_seconds
        self.redis.zadd(keys.undelivered, dict.fromkeys(due, lease), xx=True)
        ids = [i for i in due if not i.startswith(BATCH_ENTRY)]
        for entry in (e for e in due if e.startswith(BATCH_ENTRY)):
            ids += self.unclaimed_successes(tag, entry.removeprefix(BATCH_ENTRY))
        return ids

    def unclaimed_successes(self, tag: str, batch_id: str) -> list[str]:
        """The batch's bulk-stored successes no delivery task has taken: still 'submitted' in
        this batch, with no entry of their own in undelivered (their dispatch was lost with a
        collector that died). With none left, the batch's entry goes, under WATCH of the
        batch: a settle or a take meanwhile keeps it."""
        keys = self.keys_of(tag)
        found: list[str] = []
        with self.redis.pipeline() as guard:
            guard.watch(keys.batch(batch_id))  # type: ignore[no-untyped-call]
            ids = [text(i) for i in self.redis.hkeys(keys.results(batch_id))]  # at most 50,000
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                pipe = self.redis.pipeline(transaction=False)
                for item_id in chunk:
                    pipe.hmget(keys.item(item_id), ["state", "batch"])
                    pipe.zscore(keys.undelivered, item_id)
                replies = pipe.execute()
                for n, item_id in enumerate(chunk):
                    (state, batch), own_entry = replies[2 * n], replies[2 * n + 1]
                    where = (text(state or ""), text(batch or ""))
                    if own_entry is None and where == ("submitted", batch_id):
                        found.append(item_id)
            if not found:
                guard.multi()
                guard.zrem(keys.undelivered, batch_entry(batch_id))
                guard.hdel(keys.batch(batch_id), "unclaimed")
                with suppress(WatchError):
                    guard.execute()
        return found

    def take(self, tag: str, ids: list[str]) -> list[str]:
        """The ids this delivery task may deliver now (no other task holds them). Items
        without a callback are marked delivered on the way (their Redis result is theirs)."""
        keys = self.keys_of(tag)
        now = time.time()
        call = TakeDeliveries(
            undelivered=keys.undelivered,
            counts=keys.counts,
            item_prefix=keys.item_prefix,
            now=repr(now),
            delivery_until=repr(now + self.settings.lease_seconds),
            results_prefix=keys.results(""),
            batch_prefix=keys.batch(""),
            result_ttl=self.settings.result_ttl,
            batch_entry_prefix=BATCH_ENTRY,
            ids=ids,
        )
        return [text(i) for i in self.scripts.run(call)]

    def payloads(self, tag: str, ids: list[str]) -> dict[str, StoredResult]:
        """The result, state and delivery fields of each id."""
        return read_results(self.redis, dict.fromkeys(ids, self.keys_of(tag)), DELIVERY_FIELDS)

    def note(self, tag: str, item_id: str, **fields: Any) -> None:
        """Record how the item's delivery went (webhook tries, a callback sent)."""
        item = self.keys_of(tag).item(item_id)
        self.redis.hset(item, mapping={k: str(v) for k, v in fields.items()})

    def retry_at(self, tag: str, item_id: str, when: float) -> None:
        self.redis.zadd(self.keys_of(tag).undelivered, {item_id: when})

    def mark_delivered(self, tag: str, ids: list[str]) -> int:
        if not ids:
            return 0
        keys = self.keys_of(tag)
        call = MarkDelivered(
            counts=keys.counts,
            undelivered=keys.undelivered,
            item_prefix=keys.item_prefix,
            now=repr(time.time()),
            results_prefix=keys.results(""),
            batch_prefix=keys.batch(""),
            result_ttl=self.settings.result_ttl,
            ids=ids,
        )
        return int(self.scripts.run(call))

    def dead_letter(self, tag: str, item_id: str, reason: str) -> None:
        """Give up delivering to a webhook: record why, and keep the item retryable by hand."""
        keys = self.keys_of(tag)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.item(item_id), mapping={"delivery_error": reason[:500]})
        pipe.zadd(keys.dead, {item_id: time.time()})
        pipe.hincrby(keys.counts, "webhook_dead", 1)
        pipe.execute()
