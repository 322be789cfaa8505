"""Polling: record every live batch's status and hand terminal ones to collection."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from producers.errors import BatchrelayError
from producers.settings import Settings
from producers.status import TERMINAL_OPENAI_STATUSES, BatchState
from worker.providers import ProviderRegistry
from worker.store import Store

log = logging.getLogger("batchrelay.polling")
SLOW_STATUSES = ("validating", "finalizing")


@dataclass
class PollReport:
    polled: int = 0
    terminal: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    errors: int = 0


def poll(
    store: Store,
    providers: ProviderRegistry,
    settings: Settings,
    keep_lock: Callable[[], object] = lambda: None,
) -> PollReport:
    """Retrieve each live batch once. The caller holds the poll lock; ``keep_lock`` renews it."""
    report = PollReport()
    started = time.time()
    for batch_id in store.batches.live():
        keep_lock()
        poll_one(store, providers, settings, batch_id, report)
    store.batches.record_poll(started, time.time(), report.polled)
    return report


def poll_one(
    store: Store,
    providers: ProviderRegistry,
    settings: Settings,
    batch_id: str,
    report: PollReport,
) -> None:
    """Retrieve one batch and record it in ``report``; safe beside a full poll, since only one
    transition out of SUBMITTED wins and hands the batch to collection."""
    batch = store.batches.get(batch_id)
    if not batch.provider_id or batch.state != BatchState.SUBMITTED:
        return
    try:
        remote = providers.of_partition(batch.partition).retrieve(batch.provider_id)
    except BatchrelayError as error:  # the API's, or a provider's configuration
        report.errors += 1
        log.warning("batch %s: poll failed: %s", batch_id, error)
        return
    report.polled += 1
    summary = remote.summary()
    status = remote.status
    since = float(batch.get(f"since_{status}") or 0) or time.time()
    summary[f"since_{status}"] = since
    if status in SLOW_STATUSES and time.time() - since > settings.stuck_after:
        summary["stuck"] = status
        report.stuck.append(batch_id)
        log.warning("batch %s: %s for %.0fs (stuck?)", batch_id, status, time.time() - since)
    elif batch.get("stuck"):
        summary["stuck"] = ""
    store.batches.update(batch_id, **summary)
    if status in TERMINAL_OPENAI_STATUSES and store.batches.transition(
        batch_id, BatchState.SUBMITTED, BatchState(status), lease=True, live="rem"
    ):
        report.terminal.append(batch_id)
