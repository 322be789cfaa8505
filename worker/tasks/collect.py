"""batchrelay.collect: settle every item of a finished batch and queue their deliveries."""

from __future__ import annotations

import logging

from producers.errors import ConfigurationError, OpenAIError
from worker.app import app
from worker.lifecycle.collecting import collect
from worker.runtime import runtime
from worker.tasks.dispatcher import dispatcher, retry_delay

log = logging.getLogger("batchrelay.tasks")


@app.task(name="batchrelay.collect", ignore_result=True)
def collect_batch(batch_id: str) -> int:
    rt = runtime()
    lock = rt.store.locks.batch(batch_id)
    if not lock.acquire():
        return 0
    try:
        report = collect(
            rt.store,
            rt.providers.of_batch(batch_id),
            dispatcher,
            rt.settings,
            batch_id,
            lock.reacquire,
        )
    except (OpenAIError, ConfigurationError) as error:
        tries = rt.store.batches.record_failure(batch_id, "collect", error)
        log.warning("batch %s: collect failed (try %d): %s", batch_id, tries, error)
        wait = error.retry_after if isinstance(error, OpenAIError) else None
        dispatcher.collect(batch_id, countdown=retry_delay(tries, wait))
        return 0
    finally:
        lock.release()
    return 0 if report is None else report.succeeded + report.dead
