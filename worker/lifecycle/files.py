"""Provider file hygiene: nothing batchrelay uploads, nor what comes back, stays behind.

A batch enters the partition's file cleanup set when its input file is uploaded. A lease after
it was collected (every line of its output and error files settled in Redis) or abandoned,
its input, output and error files are deleted by the periodic cleanup (batchrelay.files),
which also retries deletions that failed. The lease is a grace period: Redis may still lose
the last second of writes (AOF everysec) or the replication lag (a failover), and a collect
redone after such a loss needs the output file. A file that is already gone counts as
deleted, so a cleanup that dies halfway is simply run again.

An upload that never became a batch (its worker died between the upload and recording it)
is an orphan: the periodic sweep lists the provider's files and deletes those named after a
batch of ours that recorded another file, once older than a lease. Files named after batches
this Redis does not know are left alone (another deployment's, or forgotten): they expire
at the provider after BATCHRELAY_FILE_TTL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from producers.errors import BatchNotFound, OpenAIError
from producers.keys import batch_partition
from producers.settings import Settings
from producers.status import BatchState
from worker.openai_api import BatchAPI
from worker.store import Batch, Store

log = logging.getLogger("batchrelay.files")
FINISHED = frozenset({BatchState.COLLECTED, BatchState.ABANDONED})
FILE_FIELDS = ("input_file_id", "output_file_id", "error_file_id")
CLEANUPS_PER_PASS = 500


@dataclass
class FilesReport:
    deleted: int = 0
    failed: int = 0
    deferred: int = 0
    orphans: int = 0


def delete_files(store: Store, api: BatchAPI, batch: Batch) -> int:
    """Delete the finished batch's files at the provider; returns how many it had."""
    # With BATCHRELAY_REDIS_MIN_REPLICAS, what the files held must survive a failover first.
    store.replication.fence()
    file_ids = [batch.get(name) for name in FILE_FIELDS if batch.get(name)]
    for file_id in file_ids:
        api.delete_file(file_id)
    return len(file_ids)


def clean_batch(
    store: Store, api: BatchAPI, settings: Settings, batch_id: str, now: float
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
    try:
        report.deleted += delete_files(store, api, batch)
    except OpenAIError as error:
        report.failed += 1
        log.warning("batch %s: deleting its files failed, retried later: %s", batch_id, error)
        store.files.defer_cleanup(batch_id, now + settings.lease_seconds)
        return report
    store.files.end_cleanup(batch_id)
    return report


def clean_up(store: Store, api: BatchAPI, settings: Settings, now: float) -> FilesReport:
    """Delete the files of every finished batch that is due."""
    report = FilesReport()
    for partition in store.partitions.all():
        for batch_id in store.files.due_cleanups(partition.tag, now, CLEANUPS_PER_PASS):
            done = clean_batch(store, api, settings, batch_id, now)
            report.deleted += done.deleted
            report.failed += done.failed
            report.deferred += done.deferred
    return report


def held_at_provider(api: BatchAPI) -> dict[str, int]:
    """How many batch files (inputs and outputs) the provider holds for the key, and their
    bytes."""
    held = [f for f in api.files() if f.purpose in ("batch", "batch_output")]
    return {"files": len(held), "bytes": sum(f.bytes or 0 for f in held)}


def sweep_orphans(store: Store, api: BatchAPI, settings: Settings, now: float) -> int:
    """Delete uploads named after a batch of ours that recorded another file (or none)."""
    ours = {p.tag for p in store.partitions.all()}
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
