"""Reading the pipeline's outcome from Redis for assertions."""

from __future__ import annotations

from collections import Counter

from producers.producer import Producer
from worker.store import Batch, Store


def all_batches(store: Store) -> list[Batch]:
    return [
        store.batch(b) for p in store.partitions() for b in store.batch_ids(p.tag, limit=10_000)
    ]


def membership(store: Store) -> Counter[str]:
    """How many non-abandoned batches each item was packed into."""
    seen: Counter[str] = Counter()
    for batch in all_batches(store):
        if batch.state != "abandoned":
            seen.update(store.members(batch.id))
    return seen


def states(producer: Producer, ids: list[str]) -> Counter[str]:
    return Counter(producer.states(ids).values())


def finished(producer: Producer, ids: list[str]) -> bool:
    """Every item delivered (its outcome succeeded or dead)."""
    counts = states(producer, ids)
    return counts["delivered"] == len(ids)
