"""Housekeeping: resume whatever a dead worker left behind, found by expired leases."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from producers.errors import BatchNotFound
from producers.settings import Settings
from producers.status import BatchState
from worker.failpoints import failpoint
from worker.lifecycle.dispatch import Dispatcher
from worker.store import Store

log = logging.getLogger("batchrelay.housekeeping")
DELIVERY_SCAN = 20_000
RESUBMIT = (BatchState.PACKED, BatchState.UPLOADING)
RECOLLECT = (BatchState.COMPLETED, BatchState.FAILED, BatchState.EXPIRED, BatchState.CANCELLED)


@dataclass
class HousekeepingReport:
    released: int = 0
    resubmitted: int = 0
    recollected: int = 0
    redelivered: int = 0


def release(store: Store, batch_id: str) -> int:
    """Return the items of a batch whose packer died to the queue, then drop its lease."""
    released = store.batches.release_segments(batch_id, note="packer died")
    store.batches.drop_lease(batch_id)
    if released:
        log.warning("batch %s: packer died, %d items returned to the queue", batch_id, released)
    return released


def keep_house(
    store: Store, settings: Settings, dispatcher: Dispatcher, now: float
) -> HousekeepingReport:
    """Act on expired leases and overdue deliveries. The caller holds the housekeeping lock."""
    report = HousekeepingReport()
    for batch_id in store.batches.expired_leases(now):
        try:
            batch = store.batches.get(batch_id)
        except BatchNotFound:  # forgotten (past its time to live): nothing left to resume
            store.batches.drop_lease(batch_id)
            continue
        if batch.state == BatchState.PACKING:
            # Abandoned under a lease: should this pass die before releasing the items, the
            # lease expires again and the next pass releases them (the branch below).
            if store.batches.transition(
                batch_id, BatchState.PACKING, BatchState.ABANDONED, lease=True, note="packer died"
            ):
                failpoint("housekeeping.release")
                report.released += release(store, batch_id)
        elif batch.state == BatchState.ABANDONED:
            report.released += release(store, batch_id)
        elif batch.state in RESUBMIT:
            store.batches.renew_lease(batch_id)
            dispatcher.submit(batch_id)
            report.resubmitted += 1
            log.warning("batch %s: resuming submission from %s", batch_id, batch.state)
        elif batch.state in RECOLLECT:
            store.batches.renew_lease(batch_id)
            dispatcher.collect(batch_id)
            report.recollected += 1
            log.warning("batch %s: resuming collection", batch_id)
        else:
            store.batches.drop_lease(batch_id)
    for partition in store.partitions.all():
        store.partitions.forget_finished(partition.tag, now)
        if store.partitions.retire(partition):
            continue
        ids = store.deliveries.due(partition.tag, now, DELIVERY_SCAN)
        for start in range(0, len(ids), settings.delivery_chunk):
            dispatcher.deliver(partition.tag, ids[start : start + settings.delivery_chunk])
        report.redelivered += len(ids)
    return report
