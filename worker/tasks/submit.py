"""batchrelay.submit: upload and create a packed batch (also resumes after a crash)."""

from __future__ import annotations

import logging
from pathlib import Path

from producers.errors import ConfigurationError, OpenAIError
from worker.app import app
from worker.lifecycle.submitting import fail, submit
from worker.runtime import runtime
from worker.tasks.dispatcher import dispatcher, retry_delay

log = logging.getLogger("batchrelay.tasks")


def submit_now(batch_id: str, path: Path | None = None) -> bool:
    """Submit under the batch lock; a retryable failure schedules another try."""
    rt = runtime()
    lock = rt.store.locks.batch(batch_id)
    if not lock.acquire():
        return False
    try:
        api = rt.providers.of_batch(batch_id)
        return submit(rt.store, api, batch_id, rt.directory, path, lock.reacquire)
    except ConfigurationError as error:
        # A provider without its key, or no longer configured: the batch waits, loudly,
        # until the configuration is mended (no item is given up for it).
        tries = rt.store.batches.record_failure(batch_id, "submit", error)
        log.error("batch %s: cannot be submitted: %s", batch_id, error)
        dispatcher.submit(batch_id, countdown=retry_delay(tries, None))
        return False
    except OpenAIError as error:
        tries = rt.store.batches.record_failure(batch_id, "submit", error)
        if error.retryable:
            dispatcher.submit(batch_id, countdown=retry_delay(tries, error.retry_after))
        else:
            log.error("batch %s: cannot be created: %s", batch_id, error)
            fail(rt.store, batch_id, "create_failed", str(error))
        raise
    finally:
        lock.release()


@app.task(name="batchrelay.submit", ignore_result=True)
def submit_batch(batch_id: str) -> bool:
    try:
        return submit_now(batch_id)
    except OpenAIError:
        return False
