"""Locks: leases on one unit of work (a partition's packing, a batch's submit or collect)."""

from __future__ import annotations

from typing import cast

from redis.lock import Lock

from worker.store.part import StorePart


class Locks(StorePart):
    def lock(self, name: str, ttl: float) -> Lock:
        """A non-blocking lease lock (redis-py's Lock: token owned, released by Lua)."""
        return cast(Lock, self.redis.lock(name, timeout=ttl, blocking=False))

    def batch(self, batch_id: str) -> Lock:
        """The lock one submit or collect of a batch holds, for a lease."""
        key = self.store.keys_of_batch(batch_id).batch_lock(batch_id)
        return self.lock(key, self.settings.lease_seconds)

    def pack(self, tag: str) -> Lock:
        """The lock of a partition's one aggregation pass, for a lease."""
        return self.lock(self.keys_of(tag).pack_lock, self.settings.lease_seconds)

    def packing(self, tag: str) -> bool:
        """Whether a packer holds the partition's lock right now."""
        return bool(self.redis.exists(self.keys_of(tag).pack_lock))
