"""batchrelay.collect: settle every item of a finished batch and queue their deliveries."""

from __future__ import annotations

import logging

from producers.errors import OpenAIError
from producers.keys import batch_partition
from worker.app import app
from worker.lifecycle.collecting import collect
from worker.runtime import runtime
from worker.tasks.dispatcher import dispatcher, retry_delay

log = logging.getLogger("batchrelay.tasks")


@app.task(name="batchrelay.collect", ignore_result=True)
def collect_batch(batch_id: str) -> int:
    rt = runtime()
    key = rt.store.pk(batch_partition(batch_id)).batch_lock(batch_id)
    lock = rt.store.lock(key, ttl=rt.settings.lease_seconds)
    if not lock.acquire():
        return 0
    try:
        report = collect(rt.store, rt.api, dispatcher, rt.settings, batch_id)
    except OpenAIError as error:
        tries = int(rt.store.batch(batch_id).number("collect_tries")) + 1
        rt.store.set_batch(batch_id, collect_tries=tries, last_error=str(error)[:300])
        log.warning("batch %s: collect failed (try %d): %s", batch_id, tries, error)
        dispatcher.collect(batch_id, countdown=retry_delay(tries, error.retry_after))
        return 0
    finally:
        lock.release()
    return 0 if report is None else report.succeeded + report.dead
