"""The end-of-run ledger every crash and fault test checks: nothing lost, no item in two
live batches, duplicate deliveries sharing their idempotency key."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import orjson
from redis import Redis

from producers.producer import Producer
from tests.support.callback_app import RECEIVED_KEY
from tests.support.inspect import finished, membership
from tests.support.items import wait_callbacks
from tests.support.waiting import wait_for
from worker.store import Store


@dataclass
class Ledger:
    items: int
    delivered: int
    succeeded: int
    dead_letters: int
    dead_without_reason: int
    lost: int
    in_two_batches: int
    callbacks: int
    duplicates: int
    duplicates_with_new_key: int

    def line(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.__dict__.items())

    def assert_nothing_lost(self) -> None:
        assert self.lost == 0, self.line()
        assert self.dead_without_reason == 0, self.line()
        assert self.in_two_batches == 0, self.line()
        assert self.duplicates_with_new_key == 0, self.line()


def ledger(
    producer: Producer,
    store: Store,
    redis: Redis,
    ids: list[str],
    *,
    retries_expected: bool = False,
) -> Ledger:
    statuses = {i: producer.status(i) for i in ids}
    delivered = [s for s in statuses.values() if s.state == "delivered"]
    dead = [s for s in delivered if s.outcome == "dead"]
    received = [orjson.loads(r) for r in redis.lrange(RECEIVED_KEY, 0, -1)]
    keys_by_item: dict[str, set[str]] = {}
    for r in received:
        keys_by_item.setdefault(r["id"], set()).add(r["key"])
    per_item = Counter(r["id"] for r in received)
    packed = membership(store)
    return Ledger(
        items=len(ids),
        delivered=len(delivered),
        succeeded=sum(1 for s in delivered if s.outcome == "succeeded"),
        dead_letters=len(dead),
        dead_without_reason=sum(1 for s in dead if not s.code),
        lost=len(ids) - len(delivered),
        in_two_batches=0 if retries_expected else sum(1 for n in packed.values() if n > 1),
        callbacks=len(received),
        duplicates=sum(n - 1 for n in per_item.values()),
        duplicates_with_new_key=sum(1 for keys in keys_by_item.values() if len(keys) > 1),
    )


def account_for_every_item(
    producer: Producer, redis: Redis, ids: list[str], label: str, timeout: float = 240
) -> Ledger:
    """Wait until every item is delivered and its callback received, then print the ledger
    (``label`` first) and check that nothing was lost."""
    wait_for(lambda: finished(producer, ids), timeout, f"every item delivered ({label})")
    wait_callbacks(redis, len(ids))
    result = ledger(producer, Store(redis, producer.settings), redis, ids)
    print(f"\n{label}: {result.line()}")
    result.assert_nothing_lost()
    return result
