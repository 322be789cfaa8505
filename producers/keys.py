"""Every Redis key name batchrelay uses, from one namespace() helper.

Keys of one partition share the hash tag ``{<tag>}`` (the partition's tag, partition_tag()) so
a Redis Cluster keeps them in one slot and every Lua script touches a single slot. The fields
of every hash are listed in producers/keys.md, the glossary.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_PROVIDER = "openai"
REQUEST_SECONDS_SUFFIX = " seconds"  # br:gw:requests: a route's time, beside its count


@lru_cache(maxsize=4096)
def partition_tag(
    endpoint: str, model: str, provider: str = DEFAULT_PROVIDER, tenant: str = "", group: str = ""
) -> str:
    """A short stable tag for a (provider, endpoint, model, tenant, group) partition. The
    default provider's partitions without a tenant or group keep the tags they had before
    providers existed, so their data carries on."""
    name = f"{endpoint}\n{model}"
    if provider != DEFAULT_PROVIDER:
        name = f"{provider}\n{name}"
    if tenant or group:
        name = f"{name}\ntenant={tenant}\ngroup={group}"
    return hashlib.sha1(name.encode()).hexdigest()[:12]


def batch_partition(batch_id: str) -> str:
    """The partition tag embedded in one of our batch ids (``brb-<tag>-<hex>``)."""
    parts = batch_id.split("-")
    if len(parts) != 3 or parts[0] != "brb" or len(parts[1]) != 12:
        raise ValueError(f"not a batchrelay batch id: {batch_id!r}")
    return parts[1]


BATCH_ENTRY = "batch "
"""Prefix of a batch's entry in ``undelivered`` (no item id holds a space): the lease on the
delivery of its bulk-stored successes that no delivery task has claimed yet."""


def batch_entry(batch_id: str) -> str:
    return BATCH_ENTRY + batch_id


@dataclass(frozen=True)
class PartitionKeys:
    """Key names of one partition; every one carries the partition's hash tag."""

    prefix: str

    @property
    def queue(self) -> str:
        """LIST of the numbers of the segments ready to pack, oldest first."""
        return f"{self.prefix}:queue"

    @property
    def queue_state(self) -> str:
        """HASH of the queue: length (items in it), tail (the segment being filled),
        last_segment (the last segment number given out), registered (the partition is in the
        registry)."""
        return f"{self.prefix}:qstate"

    @property
    def segment_prefix(self) -> str:
        return f"{self.prefix}:seg:"

    def segment(self, number: str) -> str:
        """HASH of one segment: items, bytes, inputs, tokens and callbacks of its items,
        opened_at, and batch and claimed_at once a batch has claimed it."""
        return f"{self.prefix}:seg:{number}"

    def segment_ids(self, number: str) -> str:
        """LIST of a segment's item ids."""
        return f"{self.prefix}:seg:{number}:ids"

    def segment_lines(self, number: str) -> str:
        """LIST of a segment's request lines, in the order of its ids."""
        return f"{self.prefix}:seg:{number}:lines"

    @property
    def delayed(self) -> str:
        """ZSET of item ids waiting out a retry backoff, scored by when they are due."""
        return f"{self.prefix}:delayed"

    @property
    def counts(self) -> str:
        """HASH of item counts by state, and token/usage totals."""
        return f"{self.prefix}:counts"

    @property
    def batches(self) -> str:
        """ZSET of every batch id of the partition, scored by creation time, then by the time it
        finished (collected or abandoned)."""
        return f"{self.prefix}:batches"

    @property
    def live(self) -> str:
        """SET of batch ids submitted to OpenAI and not yet terminal."""
        return f"{self.prefix}:live"

    @property
    def leases(self) -> str:
        """ZSET of batch ids in a worker-owned stage, scored by lease deadline."""
        return f"{self.prefix}:leases"

    @property
    def dead(self) -> str:
        """ZSET of dead-lettered item ids, scored by time of death."""
        return f"{self.prefix}:dead"

    @property
    def undelivered(self) -> str:
        """ZSET of finished item ids awaiting delivery, scored by when to (re)try, and one
        batch_entry() per batch with bulk-stored successes not claimed for delivery yet."""
        return f"{self.prefix}:undelivered"

    @property
    def file_cleanup(self) -> str:
        """ZSET of batch ids with files at the provider, scored by when to look at them next:
        their files are deleted once the batch is collected or abandoned."""
        return f"{self.prefix}:files"

    @property
    def pack_lock(self) -> str:
        return f"{self.prefix}:lock:pack"

    @property
    def item_prefix(self) -> str:
        return f"{self.prefix}:item:"

    def item(self, item_id: str) -> str:
        """HASH of one item: state, attempt, segment or batch, callback, history; its request
        line only while it is out of a segment (waiting out a backoff, or dead)."""
        return f"{self.prefix}:item:{item_id}"

    def results(self, batch_id: str) -> str:
        """HASH of a batch's results: item id -> a success's output line as it came, or the
        result JSON without the attempt, idempotency key and metadata (producers/results.py
        reads both), or '' for an item the batch sent back to the queue. Expires RESULT_TTL
        after its last write."""
        return f"{self.prefix}:results:{batch_id}"

    def notify(self, item_id: str) -> str:
        """LIST pushed once the item has a result, to wake Producer.wait()."""
        return f"{self.prefix}:notify:{item_id}"

    def waiting(self, item_id: str) -> str:
        """STRING set while a Producer.wait() blocks on the item, so settling knows to notify."""
        return f"{self.prefix}:waiting:{item_id}"

    def batch(self, batch_id: str) -> str:
        """HASH of one of our batches."""
        return f"{self.prefix}:batch:{batch_id}"

    def batch_segments(self, batch_id: str) -> str:
        """LIST of the numbers of a batch's segments, in file order."""
        return f"{self.prefix}:batch:{batch_id}:segments"

    def batch_lock(self, batch_id: str) -> str:
        return f"{self.prefix}:lock:batch:{batch_id}"


@dataclass(frozen=True)
class Keys:
    """Key names of one batchrelay namespace."""

    ns: str = "br"

    def namespace(self, *parts: str) -> str:
        """The key name of ``parts`` in this namespace."""
        return ":".join((self.ns, *parts))

    def partition(self, tag: str) -> PartitionKeys:
        return PartitionKeys(self.namespace("{" + tag + "}"))

    @property
    def partitions(self) -> str:
        """HASH partition tag -> JSON {endpoint, model, provider} of every partition ever used
        (no provider: the default, 'openai')."""
        return self.namespace("partitions")

    @property
    def tick_lock(self) -> str:
        return self.namespace("lock", "tick")

    @property
    def poll_lock(self) -> str:
        return self.namespace("lock", "poll")

    @property
    def housekeeping_lock(self) -> str:
        return self.namespace("lock", "housekeeping")

    @property
    def files_lock(self) -> str:
        return self.namespace("lock", "files")

    @property
    def file_sweep_lock(self) -> str:
        """STRING held for a lease after a sweep of the provider's files for orphans, so one
        sweep runs per lease however many workers run."""
        return self.namespace("lock", "file-sweep")

    def budget(self, provider: str, model: str) -> str:
        """HASH: what a model's batches hold at a provider, over every partition of the pair:
        its enqueued-token budget and the backoff after token_limit_exceeded."""
        return self.namespace("budget", provider, model)

    def provider_batch(self, provider: str, provider_id: str) -> str:
        """STRING: our batch id for a batch at a provider, set as the batch is created there
        and kept as long as results, so no other batch of ours reconciles to it."""
        return self.namespace("provider-batch", provider, provider_id)

    # -- the gateway's (gateway/): files and batches of the Batch API front door -------------

    def gateway_file(self, file_id: str) -> str:
        """HASH: a file uploaded to the gateway (tenant, filename, purpose, bytes, created_at)."""
        return self.namespace("gw", "file", file_id)

    def gateway_file_chunks(self, file_id: str) -> str:
        """LIST: an uploaded file's bytes, in chunks of up to 1 MiB, in order."""
        return self.namespace("gw", "file", file_id, "chunks")

    def gateway_files(self, tenant: str) -> str:
        """ZSET: a tenant's file ids by creation time."""
        return self.namespace("gw", "files", tenant)

    def gateway_batch(self, batch_id: str) -> str:
        """HASH: a gateway batch (tenant, status, input file, counts, times, metadata)."""
        return self.namespace("gw", "batch", batch_id)

    def gateway_batch_lock(self, batch_id: str) -> str:
        """STRING: the lock of the one janitor moving a gateway batch along, for a lease."""
        return self.namespace("gw", "lock", batch_id)

    def gateway_batch_seen(self, batch_id: str) -> str:
        """SET: the custom_ids an intake has seen so far (duplicates), dropped after it."""
        return self.namespace("gw", "batch", batch_id, "seen")

    def gateway_batch_lines(self, batch_id: str) -> str:
        """LIST: a gateway batch's custom_ids in line order (item n is line n)."""
        return self.namespace("gw", "batch", batch_id, "lines")

    def gateway_batches(self, tenant: str) -> str:
        """ZSET: a tenant's gateway batch ids by creation time."""
        return self.namespace("gw", "batches", tenant)

    @property
    def gateway_open(self) -> str:
        """ZSET: gateway batches not finished yet, scored by when to look at each again."""
        return self.namespace("gw", "open")

    @property
    def gateway_requests(self) -> str:
        """HASH: the gateway's requests counted by "<method> <route> <status>", and their
        seconds by the same field with " seconds" after it (gateway/metrics.py)."""
        return self.namespace("gw", "requests")

    @property
    def polls(self) -> str:
        """LIST of recent poll passes (start, end, batches polled), newest first, capped."""
        return self.namespace("polls")

    @property
    def data_format(self) -> str:
        """STRING: the version of the data in this namespace (producers/data_format.py)."""
        return self.namespace("format")

    @property
    def fence(self) -> str:
        """STRING incremented before a WAIT, so the WAIT covers every earlier write of every
        client (producers/replication.py)."""
        return self.namespace("fence")
