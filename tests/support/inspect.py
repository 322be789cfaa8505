"""Reading the pipeline's outcome from Redis for assertions."""

from __future__ import annotations

from collections import Counter

from redis import Redis

from producers.keys import PartitionKeys
from producers.producer import Producer
from producers.replies import text
from worker.store import Batch, Store


def all_batches(store: Store) -> list[Batch]:
    return [
        store.batches.get(b)
        for p in store.partitions.all()
        for b in store.batches.ids(p.tag, limit=10_000)
    ]


def provider_reached(store: Store, status: str) -> bool:
    """Whether any batch has had ``status`` at the provider."""
    return any(b.get("provider_status") == status for b in all_batches(store))


def membership(store: Store) -> Counter[str]:
    """How many non-abandoned batches each item was packed into."""
    seen: Counter[str] = Counter()
    for batch in all_batches(store):
        if batch.state != "abandoned":
            seen.update(store.batches.item_ids(batch.id))
    return seen


def queued_ids(redis: Redis, keys: PartitionKeys) -> list[bytes]:
    """The ids in a partition's queue, in order, read segment by segment."""
    segments = [text(s) for s in redis.lrange(keys.queue, 0, -1)]
    return [text(i).encode() for s in segments for i in redis.lrange(keys.segment_ids(s), 0, -1)]


def states(producer: Producer, ids: list[str]) -> Counter[str]:
    return Counter(producer.states(ids).values())


def finished(producer: Producer, ids: list[str]) -> bool:
    """Every item delivered (its outcome succeeded or dead)."""
    counts = states(producer, ids)
    return counts["delivered"] == len(ids)


def keyspace_dump(redis: Redis) -> bytes:
    """Every key and value in the database, as one blob to search for leaked secrets."""
    out = []
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key)
        out.append(key)
        if kind == b"string":
            out.append(redis.get(key) or b"")
        elif kind == b"hash":
            out += [b for kv in redis.hgetall(key).items() for b in kv]
        elif kind == b"list":
            out += redis.lrange(key, 0, -1)
        elif kind == b"set":
            out += list(redis.smembers(key))
        elif kind == b"zset":
            out += list(redis.zrange(key, 0, -1))
        elif kind == b"stream":
            out.append(repr(redis.xrange(key)).encode())
    return b"\n".join(out)
