"""The worker's Lua scripts (worker/lua), one typed call each: KEYS, then ARGV, by the names
of each script's header (producers/scripts.py says how; tests/test_scripts.py checks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from producers.scripts import ScriptCall, arg, key, rest


@dataclass(frozen=True)
class WorkerCall(ScriptCall):
    PACKAGE = "worker"


@dataclass(frozen=True)
class BatchTransition(WorkerCall):
    """Move a batch between states, with its lease, the live set and its expiry."""

    SCRIPT = "batch_transition"
    batch: str = key()
    leases: str = key()
    live: str = key()
    batches: str = key()
    batch_segments: str = key()
    batch_id: str = arg()
    expected: str = arg()
    new_state: str = arg()
    now: str = arg()
    lease_until: str = arg()
    live_change: str = arg()
    expire_after: int | str = arg()
    segment_prefix: str = arg()
    fields: Sequence[str] = rest()


@dataclass(frozen=True)
class ClaimSegments(WorkerCall):
    """Move whole segments from the queue into a packing batch, under its limits."""

    SCRIPT = "claim_segments"
    queue: str = key()
    queue_state: str = key()
    counts: str = key()
    batch: str = key()
    batch_segments: str = key()
    now: str = arg()
    batch_id: str = arg()
    segment_prefix: str = arg()
    item_prefix: str = arg()
    chunk: int = arg()
    max_items: int = arg()
    max_bytes: int = arg()
    max_inputs: int = arg()
    max_tokens: int = arg()


@dataclass(frozen=True)
class MarkSubmitted(WorkerCall):
    """Mark the packed items of one of a batch's segments submitted."""

    SCRIPT = "mark_submitted"
    segment: str = key()
    segment_ids: str = key()
    counts: str = key()
    batch_id: str = arg()
    item_prefix: str = arg()
    segment_number: str = arg()
    now: str = arg()


@dataclass(frozen=True)
class ReleaseSegments(WorkerCall):
    """Return a dead packer's items to the front of the queue."""

    SCRIPT = "release_segments"
    batch_segments: str = key()
    counts: str = key()
    queue: str = key()
    queue_state: str = key()
    batch_id: str = arg()
    item_prefix: str = arg()
    segment_prefix: str = arg()
    now: str = arg()
    note: str = arg()


@dataclass(frozen=True)
class Promote(WorkerCall):
    """Queue the items whose retry backoff has passed."""

    SCRIPT = "promote"
    delayed: str = key()
    queue: str = key()
    queue_state: str = key()
    now: str = arg()
    limit: int = arg()
    item_prefix: str = arg()
    segment_prefix: str = arg()


@dataclass(frozen=True)
class RetryDead(WorkerCall):
    """Queue dead-lettered items again."""

    SCRIPT = "retry_dead"
    dead: str = key()
    queue: str = key()
    queue_state: str = key()
    counts: str = key()
    item_prefix: str = arg()
    now: str = arg()
    reason: str = arg()
    limit: int = arg()
    segment_prefix: str = arg()


@dataclass(frozen=True)
class Settle(WorkerCall):
    """Record the outcomes of a chunk of a batch's items, one by one."""

    SCRIPT = "settle"
    counts: str = key()
    undelivered: str = key()
    delayed: str = key()
    dead: str = key()
    results: str = key()
    batch_id: str = arg()
    item_prefix: str = arg()
    segment_prefix: str = arg()
    notify_prefix: str = arg()
    waiting_prefix: str = arg()
    now: str = arg()
    result_ttl: int = arg()
    max_attempts: int = arg()
    backoff: float = arg()
    backoff_max: float = arg()
    delivery_lease: float = arg()
    outcomes: Sequence[str | bytes] = rest()


@dataclass(frozen=True)
class SettleSuccesses(WorkerCall):
    """Store a chunk of a batch's successes in bulk, as their output lines."""

    SCRIPT = "settle_successes"
    results: str = key()
    undelivered: str = key()
    counts: str = key()
    batch: str = key()
    now: str = arg()
    delivery_until: str = arg()
    result_ttl: int = arg()
    waiting_prefix: str = arg()
    notify_prefix: str = arg()
    item_prefix: str = arg()
    batch_entry: str = arg()
    no_callback_flags: bytes = arg()
    ids_and_lines: Sequence[bytes] = rest()


@dataclass(frozen=True)
class TakeDeliveries(WorkerCall):
    """Lease finished items to one delivery task."""

    SCRIPT = "take_deliveries"
    undelivered: str = key()
    counts: str = key()
    item_prefix: str = arg()
    now: str = arg()
    delivery_until: str = arg()
    results_prefix: str = arg()
    batch_prefix: str = arg()
    result_ttl: int = arg()
    batch_entry_prefix: str = arg()
    ids: Sequence[str] = rest()


@dataclass(frozen=True)
class MarkDelivered(WorkerCall):
    """Mark items delivered once every callback of theirs got the result."""

    SCRIPT = "mark_delivered"
    counts: str = key()
    undelivered: str = key()
    item_prefix: str = arg()
    now: str = arg()
    results_prefix: str = arg()
    batch_prefix: str = arg()
    result_ttl: int = arg()
    ids: Sequence[str] = rest()


@dataclass(frozen=True)
class Withdraw(WorkerCall):
    """End a partition's waiting items as dead, delivered, with a code (a cancelled group)."""

    SCRIPT = "withdraw"
    queue: str = key()
    queue_state: str = key()
    delayed: str = key()
    counts: str = key()
    item_prefix: str = arg()
    segment_prefix: str = arg()
    now: str = arg()
    result_ttl: int = arg()
    code: str = arg()
    message: str = arg()
    limit: int = arg()


WORKER_CALLS: tuple[type[WorkerCall], ...] = (
    BatchTransition,
    ClaimSegments,
    MarkSubmitted,
    ReleaseSegments,
    Promote,
    RetryDead,
    Settle,
    SettleSuccesses,
    TakeDeliveries,
    MarkDelivered,
    Withdraw,
)
