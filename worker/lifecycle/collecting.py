"""Collection: stream a finished batch's output and error files into per-item outcomes.

Lines are joined to items by custom_id (order is not guaranteed). Items with no line are
settled by the batch's status (unfinished_outcome): expired and cancelled ones go back to the
queue, a failed batch's validation errors dead-letter the items of their lines. Settling
skips what the batch already settled, so a collect resumed after a crash repeats nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import orjson

from producers.errors import OpenAIError
from producers.settings import Settings
from producers.status import BatchState
from worker.failpoints import failpoint
from worker.lifecycle.dispatch import Dispatcher
from worker.lifecycle.settling import BulkSettler
from worker.outcomes import BadLine, classify, parse_line, success_of
from worker.providers import BatchProvider, ForeignBatch
from worker.store import Batch, Outcome, Settled, Store

log = logging.getLogger("batchrelay.collecting")
SETTLE_CHUNK = 1000
SETTLE_BYTES = 8 * 1024 * 1024
COLLECTABLE = (
    f"{BatchState.COMPLETED},{BatchState.FAILED},{BatchState.EXPIRED},{BatchState.CANCELLED}"
)


@dataclass
class CollectReport:
    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    bad_lines: int = 0
    missing_files: int = 0
    tokens_in: int = 0
    tokens_out: int = 0

    def add(self, settled: Settled) -> None:
        self.succeeded += settled.succeeded
        self.retried += settled.retried
        self.dead += settled.dead
        self.skipped += settled.skipped


class Collector:
    """Settles one batch; holds the chunk being built and what it has counted.

    Successes of the batch's items, nearly every line, are stored in bulk: a full chunk is
    sent to Redis and its reply read when the next chunk is ready (BulkSettler), so
    the work in Redis and the JSON work here overlap. One chunk is in flight, so memory stays
    bounded and chunks settle in order. Other outcomes are settled one by one, at once, after
    the chunk in flight.
    """

    def __init__(
        self,
        store: Store,
        batch: Batch,
        dispatcher: Dispatcher,
        settings: Settings,
        keep_lock: Callable[[], object] = lambda: None,
    ) -> None:
        self.keep_lock = keep_lock
        self.store = store
        self.batch = batch
        self.dispatcher = dispatcher
        self.settings = settings
        self.report = CollectReport()
        self._pending: list[Outcome] = []
        self._successes: list[bytes] = []  # id and output line of each success, in turn
        self._success_ids: list[str] = []
        self._pending_bytes = 0
        self._settler = BulkSettler(store, batch)
        self._renew_at = 0.0  # when the lock and the lease are renewed next (monotonic)
        self._items: set[str] = set()
        self._no_callback: set[str] = set()
        # The batch's items with no line yet: id -> the id encoded.
        self._unseen: dict[str, bytes] | None = None

    def _unseen_items(self) -> dict[str, bytes]:
        if self._unseen is None:
            self._items, self._no_callback = self.store.batches.item_id_sets(self.batch.id)
            self._unseen = {i: i.encode() for i in self._items}
        return self._unseen

    def add(self, outcome: Outcome, line: bytes | None = None) -> None:
        """Settle ``outcome``; a success given with its output ``line`` is stored in bulk, the
        line becoming the item's result as it is."""
        item_id = outcome.item_id
        encoded = self._unseen_items().pop(item_id, None)
        if encoded is None and item_id in self._items:
            self.report.skipped += 1  # a second line for one item: the first one counts
            return
        if encoded is not None and line is not None and outcome.kind == "ok":
            self._add_success(encoded, item_id, line)
            return
        self._pending.append(outcome)
        self._pending_bytes += len(line or b"")
        self._maybe_send()

    def _add_success(self, encoded: bytes, item_id: str, line: bytes) -> None:
        """Add the success of one of the batch's items to the bulk settle."""
        self._successes += (encoded, line)
        self._success_ids.append(item_id)
        self._pending_bytes += len(line)
        self._maybe_send()

    def _maybe_send(self) -> None:
        # Bounded by bytes too: 1,000 pending lines of long completions could hold 40+ MB.
        pending = len(self._pending) + len(self._success_ids)
        if pending >= SETTLE_CHUNK or self._pending_bytes >= SETTLE_BYTES:
            self._send()

    def flush(self) -> None:
        """Settle everything added so far, and wait for it."""
        self._send()
        self._finish()

    def close(self) -> None:
        """Drop the reply of a chunk still in flight (after an error): its deliveries may not
        be queued then; housekeeping queues them when they are due."""
        self._settler.close()

    def _send(self) -> None:
        chunk, successes, success_ids = self._pending, self._successes, self._success_ids
        if not chunk and not successes:
            return
        self._pending, self._successes, self._success_ids = [], [], []
        self._pending_bytes = 0
        prepared = None
        if successes:  # packed while Redis still runs the chunk in flight
            prepared = self._settler.prepare(successes, success_ids, self._no_callback)
        self._finish()
        if chunk:
            self._account(self.store.outcomes.settle(self.batch, chunk))
        if prepared is not None:
            self._settler.send(prepared)

    def _finish(self) -> None:
        """Wait for the chunk in flight; count it, queue its deliveries."""
        settled = self._settler.result()
        if settled is not None:
            self._account(settled)

    def _account(self, settled: Settled) -> None:
        """Count a settled chunk and queue its deliveries."""
        failpoint("collect.mid")
        self.report.add(settled)
        now = time.monotonic()
        if now >= self._renew_at:  # one round trip each: not for every chunk
            self.keep_lock()
            self.store.batches.renew_lease(self.batch.id)
            self._renew_at = now + self.settings.lease_seconds / 10
        finished = settled.finished
        chunk = self.settings.delivery_chunk
        for start in range(0, len(finished), chunk):
            self.dispatcher.deliver(self.batch.partition, finished[start : start + chunk])

    def settle_lines(self, lines: Iterable[bytes]) -> None:
        """Settle the items of an output or error file's lines."""
        report, unseen = self.report, self._unseen_items()
        for raw in lines:
            try:
                line = parse_line(raw)
                success = success_of(line)
                # The usual line: the first of an item, a success, stored in bulk as it came.
                if success is not None and (encoded := unseen.pop(success[0], None)) is not None:
                    self._add_success(encoded, success[0], raw)
                    tokens = success[1]
                else:
                    parsed = classify(line)
                    tokens = parsed.tokens
                    self.add(parsed.outcome, raw)
            except BadLine as error:
                report.bad_lines += 1
                log.warning("batch %s: skipping a bad output line: %s", self.batch.id, error)
                continue
            report.tokens_in += tokens[0]
            report.tokens_out += tokens[1]
        self.flush()


def line_errors(batch: Batch) -> dict[int, tuple[str, str]]:
    """A failed batch's validation errors by 1-based line number."""
    raw = batch.get("errors")
    out: dict[int, tuple[str, str]] = {}
    for entry in orjson.loads(raw) if raw else []:
        line = entry.get("line")
        if isinstance(line, int):
            out[line] = (str(entry.get("code") or "invalid"), str(entry.get("message") or ""))
    return out


# How an item that got no line ends, by its batch's status (a failed batch's items are
# settled by unfinished_outcome itself): retried with an attempt counted.
UNFINISHED = {
    BatchState.EXPIRED: ("batch_expired", "batch expired"),
    BatchState.CANCELLED: ("batch_cancelled", "batch cancelled"),
}


def unfinished_outcome(
    item_id: str, batch: Batch, line: int | None, errors: dict[int, tuple[str, str]]
) -> Outcome:
    """The outcome of an item of ``batch`` that got no line in its files; ``line``: its
    1-based line in the batch's file, ``errors``: a failed batch's validation errors."""
    if batch.state in UNFINISHED:
        code, message = UNFINISHED[BatchState(batch.state)]
        return Outcome(item_id, "retry", code=code, message=message)
    if batch.state != BatchState.FAILED:
        return Outcome(
            item_id, "retry", code="missing_output", message="no output line for this item"
        )
    batch_code = batch.get("error_code")
    if line in errors:
        code, message = errors[line]
        return Outcome(item_id, "dead", code=code, message=f"line {line}: {message}")
    if errors or batch_code == "token_limit_exceeded":
        # The batch failed for other lines, or for the provider's token quota: no attempt.
        message = "requeued: batch failed for other lines"
        return Outcome(item_id, "requeue", code=batch_code or "batch_failed", message=message)
    return Outcome(
        item_id, "retry", code=batch_code or "batch_failed", message=batch.get("error_message")
    )


def settle_unfinished(collector: Collector, batch: Batch) -> None:
    """Give every item that got no line its outcome from the batch's own status."""
    errors = line_errors(batch) if batch.state == BatchState.FAILED else {}
    item_ids = collector.store.batches.item_ids(batch.id) if errors else []
    line_of = {item_id: n for n, item_id in enumerate(item_ids, start=1)}
    for chunk in collector.store.outcomes.unsettled(batch.id):
        for item_id in chunk:
            collector.add(unfinished_outcome(item_id, batch, line_of.get(item_id), errors))
    collector.flush()


def settle_results(collector: Collector, api: BatchProvider, batch: Batch) -> None:
    """Settle the items of the batch's result lines (OpenAI: its output and error files)."""
    item_ids = partial(collector.store.batches.item_ids, batch.id)
    for name, lines in api.result_sources(batch, item_ids):
        try:
            collector.settle_lines(lines())
        except ForeignBatch as error:
            disown(collector, api, batch, str(error))
            return
        except OpenAIError as error:
            if error.retryable:
                raise
            # A source that is gone for good: its items get no line and are retried below.
            collector.flush()
            collector.report.missing_files += 1
            log.warning("batch %s: %s unreadable: %s", batch.id, name, error)


def disown(collector: Collector, api: BatchProvider, batch: Batch, why: str) -> None:
    """The batch adopted after an unknown create was a stranger's: give it up (to its owner,
    if that is another batch of ours) and send every item back without counting an attempt."""
    log.warning("batch %s: %s; its items go back to the queue", batch.id, why)
    if batch.provider_id:
        collector.store.batches.disown(batch.id, api.name, batch.provider_id)
    for chunk in collector.store.outcomes.unsettled(batch.id):
        for item_id in chunk:
            collector.add(Outcome(item_id, "requeue", code="foreign_batch", message=why))
    collector.flush()


def collect(
    store: Store,
    api: BatchProvider,
    dispatcher: Dispatcher,
    settings: Settings,
    batch_id: str,
    keep_lock: Callable[[], object] = lambda: None,
) -> CollectReport | None:
    """Settle every item of a terminal batch. The caller holds the batch lock; ``keep_lock``
    renews it after every settled chunk."""
    batch = store.batches.get(batch_id)
    if batch.state not in COLLECTABLE.split(","):
        return None
    collector = Collector(store, batch, dispatcher, settings, keep_lock)
    try:
        settle_results(collector, api, batch)
        settle_unfinished(collector, batch)
    finally:
        collector.close()
    report = collector.report
    partition = store.partitions.get(batch.partition)
    if batch.get("error_code") == "token_limit_exceeded":
        delay = store.partitions.back_off(partition, time.time())
        log.warning(
            "%s at %s: token_limit_exceeded, backing off %.0fs",
            partition.model,
            partition.provider,
            delay,
        )
    elif batch.state == BatchState.COMPLETED:
        store.partitions.clear_strikes(partition)
    if store.batches.transition(
        batch_id,
        COLLECTABLE,
        BatchState.COLLECTED,
        succeeded=report.succeeded,
        retried=report.retried,
        dead=report.dead,
        bad_lines=report.bad_lines,
        tokens_in=report.tokens_in,
        tokens_out=report.tokens_out,
    ):
        store.partitions.add_in_flight(partition, -batch.number("tokens"))
        store.partitions.add_count(batch.partition, "tokens_in", report.tokens_in)
        store.partitions.add_count(batch.partition, "tokens_out", report.tokens_out)
    log.info(
        "batch %s (%s): %d succeeded, %d retried, %d dead, %d bad lines",
        batch_id,
        batch.state,
        report.succeeded,
        report.retried,
        report.dead,
        report.bad_lines,
    )
    return report
