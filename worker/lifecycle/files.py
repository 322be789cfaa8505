"""Provider file hygiene: nothing batchrelay uploads, nor what comes back, stays behind.

A batch enters the partition's file cleanup set when its input file is uploaded (or, where the
requests travel in the create call, as it is about to be created). A lease after it was
collected (every result line settled in Redis) or abandoned, what it left at its provider is
deleted by the periodic cleanup (batchrelay.files): an OpenAI-shaped batch's input, output
and error files, an Anthropic batch itself with its results. Failed deletions are retried.
The lease is a grace period: Redis may still lose the last second of writes (AOF everysec)
or the replication lag (a failover), and a collect redone after such a loss needs the
results. A file that is already gone counts as
deleted, so a cleanup that dies halfway is simply run again.

An upload that never became a batch (its worker died between the upload and recording it)
is an orphan: the periodic sweep lists each provider's files and deletes those named after a
batch of ours that recorded another file, once older than a lease. Files named after batches
this Redis does not know are left alone (another deployment's, or forgotten): they expire
at the provider after BATCHRELAY_FILE_TTL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from producers.errors import BatchNotFound, BatchrelayError
from producers.keys import batch_partition
from producers.settings import Settings
from producers.status import BatchState
from worker.providers import BatchProvider, ProviderRegistry
from worker.store import Store

log = logging.getLogger("batchrelay.files")
FINISHED = frozenset({BatchState.COLLECTED, BatchState.ABANDONED})
CLEANUPS_PER_PASS = 500


@dataclass
class FilesReport:
    deleted: int = 0
    failed: int = 0
    deferred: int = 0
    orphans: int = 0


def clean_batch(
    store: Store, providers: ProviderRegistry, settings: Settings, batch_id: str, now: float
) -> FilesReport:
    """Delete one batch's files if it finished a lease ago; otherwise look again later."""
    report = FilesReport()
    try:
        batch = store.batches.get(batch_id)
    except BatchNotFound:  # forgotten: nothing left to know its files by
        store.files.end_cleanup(batch_id)
        return report
    # Not finished: look again a lease later. Finished: a lease after it finished.
    due = now + settings.lease_seconds
    if batch.state in FINISHED:
        due = batch.number(f"{batch.state}_at") + settings.lease_seconds
    if due > now:
        report.deferred += 1
        store.files.defer_cleanup(batch_id, due)
        return report
    # With BATCHRELAY_REDIS_MIN_REPLICAS, what the files held must survive a failover first.
    store.replication.fence()
    try:
        report.deleted += providers.of_partition(batch.partition).delete_files(batch)
    except BatchrelayError as error:  # the API's, or a provider's configuration
        report.failed += 1
        log.warning("batch %s: deleting its files failed, retried later: %s", batch_id, error)
        store.files.defer_cleanup(batch_id, now + settings.lease_seconds)
        return report
    store.files.end_cleanup(batch_id)
    return report


def clean_up(
    store: Store, providers: ProviderRegistry, settings: Settings, now: float
) -> FilesReport:
    """Delete the files of every finished batch that is due."""
    report = FilesReport()
    for partition in store.partitions.all():
        for batch_id in store.files.due_cleanups(partition.tag, now, CLEANUPS_PER_PASS):
            done = clean_batch(store, providers, settings, batch_id, now)
            report.deleted += done.deleted
            report.failed += done.failed
            report.deferred += done.deferred
    return report


def held_at_provider(api: BatchProvider) -> dict[str, int]:
    """How many batch files (inputs and outputs) the provider holds for the key, and their
    bytes."""
    held = [f for f in api.files() if f.purpose in ("batch", "batch_output")]
    return {"files": len(held), "bytes": sum(f.bytes or 0 for f in held)}


def sweep_orphans(store: Store, providers: ProviderRegistry, settings: Settings, now: float) -> int:
    """Delete uploads named after a batch of ours that recorded another file (or none), at
    every provider in use; one provider's failure does not stop the others' sweeps."""
    deleted = 0
    for name in sorted({p.provider for p in store.partitions.all()}):
        try:
            deleted += sweep_provider(store, providers.named(name), settings, now)
        except BatchrelayError as error:
            log.warning("sweeping %s's files failed: %s", name, error)
    return deleted


def sweep_provider(store: Store, api: BatchProvider, settings: Settings, now: float) -> int:
    """Delete one provider's orphan uploads."""
    ours = {p.tag for p in store.partitions.all() if p.provider == api.name}
    deleted = 0
    for remote in api.files():
        batch_id = remote.filename.removesuffix(".jsonl")
        if remote.purpose != "batch" or remote.created_at > now - settings.lease_seconds:
            continue
        try:
            if batch_partition(batch_id) not in ours:
                continue
            recorded = store.batches.get(batch_id).get("input_file_id")
        except (ValueError, BatchNotFound):
            continue
        if recorded != remote.id:
            log.warning("batch %s: deleting orphan upload %s", batch_id, remote.id)
            api.delete_file(remote.id)
            deleted += 1
    return deleted
