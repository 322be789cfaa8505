"""batchrelay.tick: every second or so, find partitions due to pack. Cheap when idle."""

from __future__ import annotations

import time

from worker.app import app
from worker.lifecycle.packing import due_partitions
from worker.runtime import runtime
from worker.tasks.dispatcher import dispatcher


@app.task(name="batchrelay.tick", ignore_result=True)
def tick() -> int:
    rt = runtime()
    lock = rt.store.locks.lock(rt.store.keys.tick_lock, ttl=10)
    if not lock.acquire():
        return 0
    try:
        due = due_partitions(rt.store, rt.settings, time.time())
        for tag in due:
            if not rt.store.locks.packing(tag):
                dispatcher.pack(tag)
        return len(due)
    finally:
        lock.release()
