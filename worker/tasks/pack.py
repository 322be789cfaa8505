"""batchrelay.pack: pack one batch of a partition, then upload and create it."""

from __future__ import annotations

import logging
import time

from producers.errors import OpenAIError
from worker.app import app
from worker.lifecycle.packing import is_due, pack
from worker.runtime import runtime
from worker.tasks.dispatcher import dispatcher
from worker.tasks.submit import submit_now

log = logging.getLogger("batchrelay.tasks")


@app.task(name="batchrelay.pack", ignore_result=True)
def pack_partition(tag: str) -> str | None:
    rt = runtime()
    lock = rt.store.locks.pack(tag)
    if not lock.acquire():
        return None
    try:
        packed = pack(rt.store, rt.settings, tag, rt.directory, lock.reacquire)
    finally:
        lock.release()
    if packed is None:
        return None
    try:
        submit_now(packed.batch_id, packed.path)
    except OpenAIError as error:
        log.warning("batch %s: submission will be retried: %s", packed.batch_id, error)
    if is_due(rt.store, rt.settings, rt.store.partitions.get(tag), time.time()):
        dispatcher.pack(tag)
    return packed.batch_id
