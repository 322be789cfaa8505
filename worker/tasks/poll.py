"""batchrelay.poll: one poll of every live batch at a time, however many beats run.
batchrelay.poll_batch: one batch at once, when the provider says it ended (a webhook)."""

from __future__ import annotations

from producers.errors import BatchNotFound
from worker.app import app
from worker.lifecycle.polling import PollReport, poll, poll_one
from worker.runtime import runtime
from worker.tasks.dispatcher import dispatcher

# Short, and renewed for every batch polled: a poller that dies frees the lock quickly.
POLL_LOCK_SECONDS = 30.0


@app.task(name="batchrelay.poll", ignore_result=True)
def poll_batches() -> int:
    rt = runtime()
    lock = rt.store.locks.lock(rt.store.keys.poll_lock, ttl=POLL_LOCK_SECONDS)
    if not lock.acquire():
        return 0
    try:
        report = poll(rt.store, rt.providers, rt.settings, keep_lock=lock.reacquire)
    finally:
        lock.release()
    for batch_id in report.terminal:
        dispatcher.collect(batch_id)
    return report.polled


@app.task(name="batchrelay.poll_batch", ignore_result=True)
def poll_batch(batch_id: str) -> int:
    """No poll lock: a full poll beside it is harmless (one transition wins)."""
    rt = runtime()
    report = PollReport()
    try:
        poll_one(rt.store, rt.providers, rt.settings, batch_id, report)
    except BatchNotFound:
        return 0
    for terminal in report.terminal:
        dispatcher.collect(terminal)
    return report.polled
