"""Housekeeping: resume whatever a dead worker left behind, found by expired leases."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from producers.settings import Settings
from producers.status import BatchState
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


def keep_house(
    store: Store, settings: Settings, dispatcher: Dispatcher, now: float
) -> HousekeepingReport:
    """Act on expired leases and overdue deliveries. The caller holds the housekeeping lock."""
    report = HousekeepingReport()
    for batch_id in store.expired_leases(now):
        batch = store.batch(batch_id)
        if batch.state == BatchState.PACKING:
            if store.transition(
                batch_id, BatchState.PACKING, BatchState.ABANDONED, note="packer died"
            ):
                report.released += store.release_members(batch_id, "packed", note="packer died")
                log.warning("batch %s: packer died, items returned to the queue", batch_id)
        elif batch.state in RESUBMIT:
            store.renew_lease(batch_id)
            dispatcher.submit(batch_id)
            report.resubmitted += 1
            log.warning("batch %s: resuming submission from %s", batch_id, batch.state)
        elif batch.state in RECOLLECT:
            store.renew_lease(batch_id)
            dispatcher.collect(batch_id)
            report.recollected += 1
            log.warning("batch %s: resuming collection", batch_id)
        else:
            store.drop_lease(batch_id)
    for partition in store.partitions():
        store.forget_finished(partition.tag, now)
        ids = store.due_deliveries(partition.tag, now, DELIVERY_SCAN)
        for start in range(0, len(ids), settings.delivery_chunk):
            dispatcher.deliver(partition.tag, ids[start : start + settings.delivery_chunk])
        report.redelivered += len(ids)
    return report
