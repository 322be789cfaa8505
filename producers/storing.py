"""Storing prepared items: submit.lua over one partition's chunk, and what surrounds it.

A partition is registered (its registry entry written) by a producer before its first chunk
and then once a minute, in a round trip of its own (the registry is in no partition's hash
slot). A chunk that Redis refuses because it lost the script or the partition's registration
is sent again. With BATCHRELAY_REDIS_MIN_REPLICAS, a chunk is acknowledged only once the
replicas hold it (producers/replication.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from producers.connection import safe_url
from producers.data_format import format_plan
from producers.errors import BatchrelayError
from producers.keys import Keys
from producers.models import PreparedItem
from producers.outage import Outage
from producers.plans import Plan, one
from producers.replication import Replication
from producers.scripts import NoScriptError, ScriptCall, Scripts, arg, key
from producers.settings import Settings

SUBMIT_CHUNK = 1000  # items per submit.lua call
STORED, DUPLICATE, QUEUE_FULL = 1, 0, -1  # submit.lua's code for each item
UNREGISTERED = [-2]  # submit.lua's reply when Redis lost the partition's registration
REGISTRY_REFRESH = 60.0  # a producer writes each partition's registry entry again this often
TRIES = 4
log = logging.getLogger("batchrelay.producer")


@dataclass(frozen=True)
class Submit(ScriptCall):
    """submit.lua: store a chunk of one partition's items."""

    SCRIPT = "submit"
    queue: str = key()
    queue_state: str = key()
    delayed: str = key()
    counts: str = key()
    now: str = arg()
    max_queued: int = arg()
    item_prefix: str = arg()
    segment_prefix: str = arg()
    records: bytes = arg()
    registered: int = arg()


class ItemWriter:
    """Writes chunks of prepared items of one partition each; shared by a producer's calls
    (sync or async: write_plan() is driven by either client, producers/plans.py)."""

    def __init__(self, redis: Redis | AsyncRedis, settings: Settings) -> None:
        self.settings = settings
        self.keys = Keys(settings.namespace)
        self.scripts = Scripts(redis, [Submit])
        self.replication = Replication(
            redis, settings.redis_min_replicas, settings.redis_wait_ms, self.keys.fence
        )
        self._registered: dict[str, float] = {}  # partition tag -> when registered (monotonic)
        self.url = safe_url(settings.redis_url)

    def needs_registration(self, tag: str) -> bool:
        """Whether to register the partition before storing into it: before this producer's
        first chunk for it, and again every REGISTRY_REFRESH seconds, so a registry entry lost
        while Redis kept the partition's mark comes back."""
        registered = self._registered.get(tag)
        return registered is None or time.monotonic() - registered > REGISTRY_REFRESH

    def register_plan(self, tag: str, item: PreparedItem) -> Plan[None]:
        """Write the registry entry of ``item``'s partition ``tag``, after checking that the
        namespace holds data of this release's format."""
        yield from format_plan(self.keys, self.settings.redis_url)
        yield from one(("HSETNX", self.keys.partitions, tag, item.registry_entry()))

    def command(
        self, tag: str, chunk: Sequence[PreparedItem], now: str, registered: bool
    ) -> tuple[Any, ...]:
        """The EVALSHA of submit.lua over ``chunk``; ``registered``: the caller has just
        registered the partition (see register_plan())."""
        keys = self.keys.partition(tag)
        # One argument for the whole chunk: cheaper to send and to unpack than five per item.
        records = b"\n".join([item.record for item in chunk])
        call = Submit(
            queue=keys.queue,
            queue_state=keys.queue_state,
            delayed=keys.delayed,
            counts=keys.counts,
            now=now,
            max_queued=self.settings.max_queued,
            item_prefix=keys.item_prefix,
            segment_prefix=keys.segment_prefix,
            records=records,
            registered=int(registered),
        )
        return self.scripts.command(call)

    def codes(self, tag: str, reply: Any, registered: bool) -> list[int] | None:
        """submit.lua's code for each item of a chunk from its reply (an error reply raises),
        or None when the chunk did not run (Redis forgot the script or the partition's
        registration) and must be written again."""
        if isinstance(reply, NoScriptError) or reply == UNREGISTERED:
            if reply == UNREGISTERED:
                self._registered.pop(tag, None)
            return None
        if isinstance(reply, Exception):
            raise reply
        if registered:
            self._registered[tag] = time.monotonic()
        return cast(list[int], reply)

    def write_plan(self, tag: str, chunk: Sequence[PreparedItem], now: str) -> Plan[list[int]]:
        """Store a chunk of one partition's items; one code per item. One round trip (WAIT
        included), more to register the partition or when Redis forgot something."""
        register = self.needs_registration(tag)
        for _ in range(TRIES):
            if register:
                yield from self.register_plan(tag, chunk[0])
            round_trip = [self.command(tag, chunk, now, register)]
            if self.replication.enabled:
                round_trip.append(self.replication.wait_command())
            replies = yield round_trip
            if isinstance(replies[0], NoScriptError):  # Redis restarted and forgot the script
                yield self.scripts.load_commands()
                continue
            if self.replication.enabled and not isinstance(replies[0], Exception):
                self.replication.check(replies[1])
            codes = self.codes(tag, replies[0], register)
            if codes is not None:
                return codes
            register = True  # Redis lost the partition's registration
        raise BatchrelayError(f"the submit script did not run for partition {tag} in {TRIES} tries")

    def outage(self, redis: Redis | AsyncRedis) -> Outage:
        """A new outage span: one per call, so concurrent calls do not share one."""
        return Outage(
            "producer",
            self.url,
            self.settings.producer_retry_seconds,
            log,
            reconnect=redis.connection_pool.disconnect,
        )
