"""Upload a packed batch and create it at its provider exactly once.

The intent to create is recorded before the call. After a crash or a call whose outcome is
unknown, the batch is looked up at the provider (by our id in its metadata where it has
metadata, else by what our batch must look like) instead of being created again; should a
twin slip through where batches carry our id, every copy but the oldest is cancelled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from producers.errors import OpenAIError
from producers.status import BatchState
from worker.failpoints import failpoint
from worker.providers import BatchProvider, CreateOutcomeUnknown, RemoteBatch
from worker.store import Batch, Outcome, Store

log = logging.getLogger("batchrelay.submitting")


def write_file(store: Store, batch_id: str, directory: Path) -> Path:
    """Rebuild a batch's JSONL file from Redis (the packer's own file died with it)."""
    path = directory / f"{batch_id}.jsonl"
    with path.open("wb") as handle:
        for line in store.batches.lines(batch_id):
            handle.write(line)
            handle.write(b"\n")
    return path


def find_created(store: Store, api: BatchProvider, batch: Batch) -> RemoteBatch | None:
    """The batch the provider holds for ours; None if none exists. Where batches carry our id,
    any twin is cancelled; elsewhere the oldest that fits is taken, and others left alone."""

    def taken(provider_id: str) -> bool:
        return store.batches.owner(api.name, provider_id) not in (None, batch.id)

    found = api.find(batch, batch.number("create_intent"), taken)
    if api.identifies_batches:
        for twin in found[1:]:
            log.warning("batch %s: cancelling twin %s of %s", batch.id, twin.id, found[0].id)
            try:
                api.cancel(twin.id)
            except OpenAIError as error:
                log.warning("batch %s: cancelling twin %s failed: %s", batch.id, twin.id, error)
    return found[0] if found else None


def submit(
    store: Store,
    api: BatchProvider,
    batch_id: str,
    directory: Path,
    path: Path | None = None,
    keep_lock: Callable[[], object] = lambda: None,
) -> bool:
    """Take a packed (or half-submitted) batch to its provider. Returns True once it is live.

    Raises OpenAIError when a retry may help; the batch stays leased in `uploading`. The
    caller holds the batch lock; ``keep_lock`` renews it during a long create call.
    """
    batch = store.batches.get(batch_id)
    if batch.state == BatchState.PACKED:
        store.batches.transition(batch_id, BatchState.PACKED, BatchState.UPLOADING, lease=True)
    elif batch.state == BatchState.UPLOADING:
        store.batches.renew_lease(batch_id)
    else:
        return batch.state == BatchState.SUBMITTED
    batch = store.batches.get(batch_id)
    created = find_created(store, api, batch) if batch.get("create_intent") else None
    found_by_search = created is not None
    if created is None and time.time() - batch.number("create_intent") < api.listing_lag:
        # An earlier create may have worked and not be listed yet: look again later.
        raise OpenAIError(
            f"batch {batch_id}: not listed at {api.name} yet", retryable=True, retry_after=30
        )
    if created is None:
        file_id = batch.get("input_file_id") or None
        if file_id is None:
            path = on_disk(store, batch_id, directory, path)
            file_id = api.upload(path)
            failpoint("submit.after_upload")
            if not store.files.record_upload(batch_id, file_id):
                # Another submitter got here first (our lease lapsed during the upload).
                log.warning("batch %s: another upload is recorded; dropping %s", batch_id, file_id)
                if file_id is not None:
                    api.delete_file(file_id)
                return False
        store.batches.update(batch_id, create_intent=time.time())
        # With BATCHRELAY_REDIS_MIN_REPLICAS: a failover must not forget the intent, or the
        # next try would create a twin.
        store.replication.fence()
        batch = store.batches.get(batch_id)

        def keep_alive() -> None:
            keep_lock()
            store.batches.renew_lease(batch_id)

        try:
            created = api.create(batch, file_id, path, keep_alive)
        except CreateOutcomeUnknown:
            created = find_created(store, api, batch)
            if created is None:
                raise
            found_by_search = True
        except OpenAIError:
            # Refused for certain: nothing was created, so the next try need not wait.
            store.batches.forget(batch_id, "create_intent")
            raise
        failpoint("submit.after_create")
    if not store.batches.adopt(batch_id, api.name, created.id):
        raise OpenAIError(
            f"batch {batch_id}: {api.name} batch {created.id} is another batch's", retryable=True
        )
    if path is not None:
        path.unlink(missing_ok=True)
    # Before the batch counts as submitted: collect finds its items by their submitted state.
    store.batches.mark_submitted(batch_id)
    moved = store.batches.transition(
        batch_id,
        BatchState.UPLOADING,
        BatchState.SUBMITTED,
        live="add",
        provider_id=created.id,
        submitted_at=time.time(),
        found_by_search=1 if found_by_search else "",
        **created.summary(),
    )
    if moved:
        log.info(
            "batch %s: created %s at %s (%d requests)",
            batch_id,
            created.id,
            api.name,
            int(batch.number("items")),
        )
    return True


def on_disk(store: Store, batch_id: str, directory: Path, path: Path | None) -> Path:
    """The batch's packed file: the packer's own, else rebuilt from Redis."""
    if path is not None and path.exists():
        return path
    return write_file(store, batch_id, directory)


def fail(store: Store, batch_id: str, code: str, message: str) -> int:
    """The batch cannot be created: its items count an attempt and go back (or die)."""
    batch = store.batches.get(batch_id)
    settled = 0
    for chunk in store.outcomes.unsettled(batch_id):
        outcomes = [Outcome(i, "retry", code=code, message=message[:500]) for i in chunk]
        done = store.outcomes.settle(batch, outcomes)
        settled += done.succeeded + done.retried + done.dead
    if store.batches.transition(batch_id, "packed,uploading", BatchState.ABANDONED, note=code):
        partition = store.partitions.get(batch.partition)
        store.partitions.add_in_flight(partition, -batch.number("tokens"))
    return settled
