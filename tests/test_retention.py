"""Retention against a real Redis: what is finished is forgotten with its results."""

from __future__ import annotations

import time

from redis import Redis

from producers import Producer
from producers.settings import Settings
from tests.support.dispatch import PTAG
from tests.support.inspect import queued_ids
from tests.support.items import chat
from worker.store import Store

DELIVERY_LEFTOVERS = ["dl_until", "dl_task", "wh_tries", "wh_err", "dl_err"]


def test_a_forgotten_dead_letter_is_dropped_not_revived(
    producer: Producer, redis: Redis, settings: Settings
) -> None:
    store = Store(redis, settings)
    producer.submit_many([chat("gone"), chat("kept")])
    pk = store.pk(PTAG)
    lines = {item_id: producer.request_line(item_id) for item_id in ("gone", "kept")}
    assert all(lines.values())
    # As if settled dead: out of the queue, the line stashed in the item.
    redis.delete(pk.queue, pk.queue_state, *redis.scan_iter(match=pk.segment_prefix + "*"))
    for item_id in ("gone", "kept"):
        redis.hset(
            pk.item(item_id), mapping={"st": "dead", "code": "x", "line": lines[item_id] or b""}
        )
        # and what its delivery left: a claim, a Celery callback sent, webhook tries
        redis.hset(pk.item(item_id), mapping={f: "1" for f in DELIVERY_LEFTOVERS})
        redis.expire(pk.item(item_id), 3600)
        redis.zadd(pk.dead, {item_id: time.time()})
    redis.delete(pk.item("gone"))  # its time to live passed
    assert store.revive(PTAG) == 1
    assert redis.zcard(pk.dead) == 0
    assert queued_ids(redis, pk) == [b"kept"]
    assert redis.ttl(pk.item("kept")) == -1  # queued again: kept until it finishes
    # A new try: nothing of the last delivery holds back or skips the next.
    assert redis.hmget(pk.item("kept"), DELIVERY_LEFTOVERS) == [None] * len(DELIVERY_LEFTOVERS)
    assert not redis.exists(pk.item("gone"))


def test_index_entries_older_than_the_results_are_dropped(redis: Redis, settings: Settings) -> None:
    store = Store(redis, settings)
    pk = store.pk(PTAG)
    now = time.time()
    old, recent = now - settings.result_ttl - 1, now - settings.result_ttl + 60
    redis.zadd(pk.batches, {"brb-old": old, "brb-recent": recent})
    redis.zadd(pk.dead, {"old": old, "recent": recent})
    store.forget_finished(PTAG, now)
    assert redis.zrange(pk.batches, 0, -1) == [b"brb-recent"]
    assert redis.zrange(pk.dead, 0, -1) == [b"recent"]


def test_a_finished_batch_is_indexed_from_its_end(redis: Redis, settings: Settings) -> None:
    """The index entry then goes when the batch hash expires, not a batch's age earlier."""
    store = Store(redis, settings)
    pk = store.pk(PTAG)
    batch_id = store.new_batch_id(PTAG)
    assert store.transition(batch_id, "new", "packing")
    redis.zadd(pk.batches, {batch_id: 1.0})  # as if it had been created long ago
    assert store.transition(batch_id, "packing", "abandoned")
    assert abs((redis.zscore(pk.batches, batch_id) or 0) - time.time()) < 60
    assert 0 < redis.ttl(pk.batch(batch_id)) <= settings.result_ttl
