"""Retention against a real Redis: what is finished is forgotten with its results."""

from __future__ import annotations

import time

from redis import Redis

from producers import Producer
from producers.settings import Settings
from tests.support.dispatch import TAG
from tests.support.inspect import queued_ids
from tests.support.items import chat
from worker.store import Store

DELIVERY_LEFTOVERS = [
    "delivery_lease",
    "callback_sent",
    "webhook_tries",
    "webhook_error",
    "delivery_error",
]


def test_a_forgotten_dead_letter_is_dropped_not_revived(
    producer: Producer, redis: Redis, settings: Settings
) -> None:
    store = Store(redis, settings)
    producer.submit_many([chat("gone"), chat("kept")])
    keys = store.keys_of(TAG)
    lines = {item_id: producer.request_line(item_id) for item_id in ("gone", "kept")}
    assert all(lines.values())
    # As if settled dead: out of the queue, the line stashed in the item.
    redis.delete(keys.queue, keys.queue_state, *redis.scan_iter(match=keys.segment_prefix + "*"))
    for item_id in ("gone", "kept"):
        redis.hset(
            keys.item(item_id),
            mapping={"state": "dead", "code": "x", "line": lines[item_id] or b""},
        )
        # and what its delivery left: a claim, a Celery callback sent, webhook tries
        redis.hset(keys.item(item_id), mapping={f: "1" for f in DELIVERY_LEFTOVERS})
        redis.expire(keys.item(item_id), 3600)
        redis.zadd(keys.dead, {item_id: time.time()})
    redis.delete(keys.item("gone"))  # its time to live passed
    assert store.outcomes.retry_dead(TAG) == 1
    assert redis.zcard(keys.dead) == 0
    assert queued_ids(redis, keys) == [b"kept"]
    assert redis.ttl(keys.item("kept")) == -1  # queued again: kept until it finishes
    # A new try: nothing of the last delivery holds back or skips the next.
    assert redis.hmget(keys.item("kept"), DELIVERY_LEFTOVERS) == [None] * len(DELIVERY_LEFTOVERS)
    assert not redis.exists(keys.item("gone"))


def test_index_entries_older_than_the_results_are_dropped(redis: Redis, settings: Settings) -> None:
    store = Store(redis, settings)
    keys = store.keys_of(TAG)
    now = time.time()
    old, recent = now - settings.result_ttl - 1, now - settings.result_ttl + 60
    redis.zadd(keys.batches, {"brb-old": old, "brb-recent": recent})
    redis.zadd(keys.dead, {"old": old, "recent": recent})
    store.partitions.forget_finished(TAG, now)
    assert redis.zrange(keys.batches, 0, -1) == [b"brb-recent"]
    assert redis.zrange(keys.dead, 0, -1) == [b"recent"]


def test_a_finished_batch_is_indexed_from_its_end(redis: Redis, settings: Settings) -> None:
    """The index entry then goes when the batch hash expires, not a batch's age earlier."""
    store = Store(redis, settings)
    keys = store.keys_of(TAG)
    batch_id = store.batches.new_id(TAG)
    assert store.batches.transition(batch_id, "new", "packing")
    redis.zadd(keys.batches, {batch_id: 1.0})  # as if it had been created long ago
    assert store.batches.transition(batch_id, "packing", "abandoned")
    assert abs((redis.zscore(keys.batches, batch_id) or 0) - time.time()) < 60
    assert 0 < redis.ttl(keys.batch(batch_id)) <= settings.result_ttl
