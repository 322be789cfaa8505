"""batchrelay.housekeeping: resume work whose worker died (expired leases, overdue deliveries)."""

from __future__ import annotations

import time

from worker.app import app
from worker.lifecycle.housekeeping import keep_house
from worker.runtime import runtime
from worker.tasks.dispatcher import dispatcher


@app.task(name="batchrelay.housekeeping", ignore_result=True)
def housekeeping() -> int:
    rt = runtime()
    lock = rt.store.locks.lock(rt.store.keys.housekeeping_lock, ttl=60)
    if not lock.acquire():
        return 0
    try:
        report = keep_house(rt.store, rt.settings, dispatcher, time.time())
    finally:
        lock.release()
    return report.released + report.resubmitted + report.recollected + report.redelivered
