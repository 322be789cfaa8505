"""The worker's view of Redis, one small store per concern, sharing one client and namespace.

``store.partitions`` (the registry, counters and meta of each partition), ``store.queues`` (the
queue of segments: promote, claim, read), ``store.batches`` (our batches: states, leases, their
segments), ``store.outcomes`` (settling items), ``store.deliveries`` (fan-out leases and marks),
``store.files`` (files at the provider), ``store.locks``. Key names come from producers/keys.py
(its glossary, producers/keys.md, lists every field).

Every change that spans keys or must not interleave with another runs as one Lua script
(worker/lua, typed calls in worker/store/calls.py). What is read in Python and written back
is listed where it happens, each with the reason a race there is harmless:
Deliveries.due (housekeeping's lock holds it alone), Deliveries.unclaimed_successes (under
WATCH) and Partitions.back_off (one HINCRBY, its reply used).
"""

from __future__ import annotations

from redis import Redis

from producers.keys import Keys, PartitionKeys, batch_partition
from producers.replication import Replication
from producers.scripts import Scripts
from producers.settings import Settings
from worker.store.batches import Batch, Batches
from worker.store.calls import WORKER_CALLS
from worker.store.deliveries import Deliveries
from worker.store.files import ProviderFiles
from worker.store.locks import Locks
from worker.store.outcomes import Outcome, Outcomes, Settled
from worker.store.partitions import Partition, Partitions
from worker.store.queues import Queues, SegmentClaim


class Store:
    """Batch-side storage of one namespace."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.namespace)
        self.scripts = Scripts(redis, WORKER_CALLS)
        self.replication = Replication(
            redis, settings.redis_min_replicas, settings.redis_wait_ms, self.keys.fence
        )
        self.partitions = Partitions(self)
        self.queues = Queues(self)
        self.batches = Batches(self)
        self.outcomes = Outcomes(self)
        self.deliveries = Deliveries(self)
        self.files = ProviderFiles(self)
        self.locks = Locks(self)

    def keys_of(self, tag: str) -> PartitionKeys:
        """The key names of partition ``tag``."""
        return self.keys.partition(tag)

    def keys_of_batch(self, batch_id: str) -> PartitionKeys:
        """The key names of the partition that batch ``batch_id`` belongs to."""
        return self.keys.partition(batch_partition(batch_id))


__all__ = ["Batch", "Outcome", "Partition", "SegmentClaim", "Settled", "Store"]
