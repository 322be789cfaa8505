"""Aggregation: decide which partitions are due and pack one into a JSONL file under limits.

A batch holds at most what both its provider takes (producers/providers.py, ``limits``) and
the settings allow (BATCHRELAY_MAX_REQUESTS_PER_BATCH and the like cap every provider).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from producers.settings import Settings
from producers.status import BatchState
from worker.failpoints import failpoint
from worker.store import Partition, Store
from worker.store.queues import Limits

log = logging.getLogger("batchrelay.packing")
CLAIM_CHUNK = 5000


@dataclass(frozen=True)
class PackedBatch:
    batch_id: str
    path: Path
    count: int
    size: int


def backoff_until(store: Store, partition: Partition) -> float:
    """Until when the partition's model is not packed at its provider (token_limit_exceeded)."""
    return float(store.partitions.budget(partition).get("backoff_until") or 0)


def batch_limits(settings: Settings, partition: Partition) -> Limits:
    """The most one batch of the partition may hold (tokens: -1, the budget is separate)."""
    provider = settings.provider_config().provider(partition.provider).batch_limits
    return Limits(
        items=min(settings.max_requests_per_batch, provider.max_requests),
        bytes=min(settings.max_batch_bytes, provider.max_bytes),
        inputs=min(settings.max_embedding_inputs, provider.max_embedding_inputs),
        tokens=-1,
    )


def token_room(store: Store, settings: Settings, partition: Partition) -> int:
    """Tokens this partition may still enqueue at its provider, or -1 for no budget: the
    provider's own budget for the model, else BATCHRELAY_TOKEN_BUDGETS', shared by every
    partition of the model there (tenants, groups, endpoints)."""
    provider = settings.provider_config().provider(partition.provider)
    budget = provider.token_budgets.get(
        partition.model, settings.token_budgets.get(partition.model)
    )
    if budget is None:
        return -1
    in_flight = float(store.partitions.budget(partition).get("tokens_in_flight") or 0)
    return max(0, int(budget - max(0.0, in_flight)))


def is_due(store: Store, settings: Settings, partition: Partition, now: float) -> bool:
    """A partition is due when a batch would be full or its oldest item waited flush_after."""
    tag = partition.tag
    if backoff_until(store, partition) > now:
        return False
    if store.queues.depth(tag) >= batch_limits(settings, partition).items:
        return True
    oldest = store.queues.oldest_enqueued(tag)
    return oldest is not None and now - oldest >= settings.flush_after


def due_partitions(store: Store, settings: Settings, now: float) -> list[str]:
    """Promote items whose backoff passed, then list the partitions ready to pack."""
    due = []
    for partition in store.partitions.all():
        store.queues.promote_due(partition.tag, now)
        if is_due(store, settings, partition, now):
            due.append(partition.tag)
    return due


def pack(
    store: Store,
    settings: Settings,
    tag: str,
    directory: Path,
    keep_lock: Callable[[], object] = lambda: None,
) -> PackedBatch | None:
    """Claim queued items of ``tag`` into a new batch and write its JSONL file.

    Returns None when nothing could be packed (empty queue, or the token budget is spent).
    The caller holds the partition's pack lock; ``keep_lock`` renews it after every claim.
    """
    if store.queues.depth(tag) == 0:
        return None  # another pass took the items first; open no empty batch
    partition = store.partitions.get(tag)
    most = batch_limits(settings, partition)
    token_budget = token_room(store, settings, partition)
    if token_budget == 0:
        log.info("partition %s: token budget spent, waiting", tag)
        return None
    batch_id = store.batches.new_id(tag)
    store.batches.transition(
        batch_id,
        "new",
        BatchState.PACKING,
        lease=True,
        endpoint=partition.endpoint,
        model=partition.model,
        created_at=time.time(),
    )
    count = size = inputs = tokens = 0
    path = directory / f"{batch_id}.jsonl"
    with path.open("wb") as handle:
        while True:
            limits = Limits(
                items=most.items - count,
                bytes=most.bytes - size,
                inputs=most.inputs - inputs,
                tokens=-1 if token_budget < 0 else token_budget - tokens,
            )
            claim = store.queues.claim_segments(batch_id, CLAIM_CHUNK, limits)
            if claim.items:
                for lines in store.queues.segment_lines(tag, claim.segments):
                    handle.write(b"\n".join(lines))
                    handle.write(b"\n")
                failpoint("pack.mid")
                count += claim.items
                size += claim.bytes
                inputs += claim.inputs
                tokens += claim.tokens
                keep_lock()
                store.batches.renew_lease(batch_id)
            if claim.full or claim.exhausted or count >= most.items:
                break
    if count == 0:
        abandoned = BatchState.ABANDONED
        store.batches.transition(batch_id, BatchState.PACKING, abandoned, note="nothing to pack")
        path.unlink(missing_ok=True)
        return None
    if not store.batches.transition(batch_id, BatchState.PACKING, BatchState.PACKED, lease=True):
        path.unlink(missing_ok=True)
        return None
    # Counted from packing on, so the next pack already sees this batch against the budget.
    store.partitions.add_in_flight(partition, tokens)
    log.info("packed batch %s: %d requests, %d bytes", batch_id, count, size)
    return PackedBatch(batch_id, path, count, size)
