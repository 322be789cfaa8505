"""batchrelay.files: delete what finished batches left at their providers, and orphan uploads."""

from __future__ import annotations

import logging
import time

from worker.app import app
from worker.lifecycle.files import clean_up, sweep_orphans
from worker.runtime import runtime

log = logging.getLogger("batchrelay.tasks")


@app.task(name="batchrelay.files", ignore_result=True)
def clean_files() -> int:
    rt = runtime()
    if rt.settings.keep_files:
        return 0
    store = rt.store
    lock = store.locks.lock(store.keys.files_lock, ttl=rt.settings.lease_seconds)
    if not lock.acquire():
        return 0
    try:
        now = time.time()
        report = clean_up(store, rt.providers, rt.settings, now)
        # One sweep of the providers' file lists per lease, however many workers run.
        sweep = store.redis.set(
            store.keys.file_sweep_lock, b"1", nx=True, px=int(rt.settings.lease_seconds * 1000)
        )
        if sweep:
            report.orphans = sweep_orphans(store, rt.providers, rt.settings, now)
    finally:
        lock.release()
    return report.deleted + report.orphans
