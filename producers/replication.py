"""Acknowledged means replicated: WAIT for BATCHRELAY_REDIS_MIN_REPLICAS before saying yes.

Replication is asynchronous, so a write the primary acknowledged can vanish in a failover.
Where something depends on a write (a producer told its item is accepted; a batch about to be
created at the provider; provider files about to be deleted because their lines are settled),
the write is followed by WAIT on the same connection, and the step goes on only when enough
replicas hold it.

WAIT counts the writes made on its own connection, up to that connection's last write, and
the replication stream keeps the order of writes: a WAIT after a write covers every write
made before it by any client. A script that would otherwise write nothing (a chunk of
duplicates) makes a small write of its own for that reason (submit.lua), and fence() makes
one before a step that depends on the writes of others.
"""

from __future__ import annotations

from typing import Any

from producers.errors import ReplicasUnavailable


class Replication:
    """Waits for ``replicas`` replicas (none: every method returns at once)."""

    def __init__(self, redis: Any, replicas: int, wait_ms: int, fence_key: str) -> None:
        self.redis = redis
        self.replicas = replicas
        self.wait_ms = wait_ms
        self.fence_key = fence_key

    @property
    def enabled(self) -> bool:
        return self.replicas > 0

    def wait_command(self) -> tuple[Any, ...]:
        """The WAIT to send right after the writes it must cover, on their connection."""
        return ("WAIT", self.replicas, self.wait_ms)

    def check(self, reached: Any) -> None:
        """Raise ReplicasUnavailable unless WAIT's reply reached enough replicas."""
        if isinstance(reached, Exception):
            raise reached
        if int(reached) < self.replicas:
            raise ReplicasUnavailable(self.replicas, int(reached), self.wait_ms)

    def fence(self) -> None:
        """Return once every write made so far, by any client, is on enough replicas."""
        if not self.enabled:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(self.fence_key)
        pipe.execute_command(*self.wait_command())
        self.check(pipe.execute()[1])
