"""The janitor: a thread in every gateway process that moves open gateway batches along, each
under a lock of its own, so replicas share the work and a dead one's batch is taken up by
another a lease later.

validating -> intake (gateway/intake.py) -> in_progress -> its items counted as the workers
deliver them -> finalizing -> completed, with an output and an error file written from the
results (gateway/output.py). Past its deadline, or once cancelled, a batch's waiting items are
withdrawn (dead, `batch_expired` or `batch_cancelled`), its batches at the provider cancelled
(their finished lines kept), and it ends `expired` or `cancelled` once nothing of it is left
in flight."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import LockError

from gateway.backend import Backend
from gateway.batchstore import GatewayBatch
from gateway.intake import intake
from gateway.output import ERRORS, OUTPUT, write_file
from producers.errors import BatchrelayError
from producers.replies import text

log = logging.getLogger("batchrelay.gateway")
PASS_SECONDS = 0.5
BATCHES_PER_PASS = 20
RETRY_SECONDS = 5.0
OPEN = frozenset({"in_progress", "cancelling", "finalizing"})
CODES = {"cancelled": "batch_cancelled", "expired": "batch_expired"}


@dataclass(frozen=True)
class Progress:
    total: int
    completed: int
    failed: int

    @property
    def done(self) -> bool:
        return self.completed + self.failed >= self.total


def progress(backend: Backend, batch: GatewayBatch) -> Progress:
    """How many of the batch's requests have finished, from its partitions' counters."""
    pipe = backend.redis.pipeline(transaction=False)
    for tag in batch.partitions:
        pipe.hmget(backend.keys.partition(tag).counts, ["delivered_succeeded", "delivered_dead"])
    completed = failed = 0
    for succeeded, dead in pipe.execute():
        completed += int(succeeded or 0)
        failed += int(dead or 0)
    return Progress(int(batch.number("total")), completed, failed)


def withdraw(backend: Backend, batch: GatewayBatch, code: str) -> None:
    """End the batch's waiting items, and cancel its batches at the provider once each."""
    message = f"The gateway batch was {code.removeprefix('batch_')} before this request ran."
    for tag in batch.partitions:
        while backend.store.queues.withdraw(tag, code, message):
            pass
        for live in backend.redis.smembers(backend.keys.partition(tag).live):
            ours = backend.store.batches.get(text(live))
            if ours.provider_id and not ours.get("gateway_cancel"):
                try:
                    backend.providers.of_partition(tag).cancel(ours.provider_id)
                except BatchrelayError as error:  # tried again at the next pass
                    log.warning("gateway batch %s: cancelling %s: %s", batch.id, ours.id, error)
                    continue
                backend.store.batches.update(ours.id, gateway_cancel=1)


def finalize(
    backend: Backend,
    batch: GatewayBatch,
    done: Progress,
    final: str,
    keep_lock: Callable[[], object],
) -> None:
    """Write the batch's files and end it (a janitor that died here is followed by one that
    does it again)."""
    if not backend.batches.move(batch.id, OPEN, "finalizing"):
        return
    output = write_file(backend, batch, OUTPUT, keep_lock) if done.completed else None
    errors = write_file(backend, batch, ERRORS, keep_lock) if done.failed else None
    backend.batches.move(
        batch.id,
        frozenset({"finalizing"}),
        final,
        output_file_id=output,
        error_file_id=errors,
        completed=done.completed,
        failed=done.failed,
    )
    log.info(
        "gateway batch %s: %s (%d ok, %d failed)", batch.id, final, done.completed, done.failed
    )


def advance(backend: Backend, batch: GatewayBatch, keep_lock: Callable[[], object]) -> float | None:
    """Move the batch along; when to look at it again (None: it is finished)."""
    now = time.time()
    if batch.status == "validating":
        intake(backend, batch, keep_lock)
        return now
    if batch.status not in OPEN:
        return None
    ending = batch.fields.get("ending", "")
    if batch.status == "cancelling":
        ending = "cancelled"
    elif not ending and batch.status != "finalizing" and now >= batch.number("expires_at"):
        ending = "expired"  # a batch finalizing had every line done in time
    if ending and ending != batch.fields.get("ending"):
        backend.batches.update(batch.id, ending=ending)
    if ending and batch.status != "finalizing":
        withdraw(backend, batch, CODES[ending])
    done = progress(backend, batch)
    if done.done or batch.status == "finalizing":
        finalize(backend, batch, done, ending or "completed", keep_lock)
        return None
    return now + (1.0 if ending else 2.0)


class Janitor(threading.Thread):
    """Looks at due open batches every PASS_SECONDS (sooner when woken)."""

    def __init__(self, backend: Backend) -> None:
        super().__init__(name="gateway-janitor", daemon=True)
        self.backend = backend
        self.stopped = threading.Event()
        self.woken = threading.Event()

    def wake(self) -> None:
        self.woken.set()

    def stop(self) -> None:
        self.stopped.set()
        self.woken.set()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.run_pass()
            except Exception:  # a Redis outage, or a bug: log it, keep the thread
                log.exception("gateway janitor pass failed")
            self.woken.wait(PASS_SECONDS)
            self.woken.clear()

    def run_pass(self) -> None:
        backend = self.backend
        lease = backend.settings.lease_seconds
        for batch_id in backend.batches.due(time.time(), BATCHES_PER_PASS):
            key = backend.keys.gateway_batch_lock(batch_id)
            lock = backend.store.locks.lock(key, lease)
            if not lock.acquire():
                # Another replica has it and schedules it when done; should it die, a lease
                # from now is when its lock is free. Meanwhile the other due batches come up.
                backend.batches.schedule(batch_id, time.time() + lease)
                continue
            try:
                self.advance_one(batch_id, lock.reacquire)
            finally:
                # Expired meanwhile (LockNotOwnedError): another replica may have it now.
                with contextlib.suppress(LockError):
                    lock.release()

    def advance_one(self, batch_id: str, keep_lock: Callable[[], object]) -> None:
        """Advance one batch; a failure is logged and the batch looked at again later, so one
        batch never stalls the others."""
        backend = self.backend
        try:
            batch = backend.batches.load(batch_id)
            later = None if batch is None else advance(backend, batch, keep_lock)
        except Exception:  # a Redis outage, a provider error, or a bug
            log.exception("gateway batch %s: advancing failed; trying again later", batch_id)
            backend.batches.schedule(batch_id, time.time() + RETRY_SECONDS)
            return
        if later is None:
            backend.redis.zrem(backend.keys.gateway_open, batch_id)
        else:
            backend.batches.schedule(batch_id, later)
