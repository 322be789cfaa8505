"""`batchrelay exporter`: Prometheus metrics read from Redis at scrape time.

A custom collector reads one Snapshot per scrape (no state in the exporter, so it does not
matter how many workers run or which exporter Prometheus asks). build_metrics() turns a
Snapshot into metric families and is a pure function.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterable
from types import FrameType

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from producers.connection import connect
from producers.settings import Settings
from producers.status import BatchState, ItemState, OpenAIStatus
from worker.logs import setup_logging
from worker.metrics.snapshot import Snapshot, read_snapshot
from worker.store import Store

log = logging.getLogger("batchrelay.exporter")
PART = ["provider", "endpoint", "model", "tenant"]
# Batches in flight: ours before submission, OpenAI's while live, ours again until collected.
BATCH_STATUSES: tuple[str, ...] = (
    BatchState.PACKING,
    BatchState.PACKED,
    BatchState.UPLOADING,
    *OpenAIStatus,
)
# counts-hash field -> (kind, outcome). The first three always exist; the others are shown
# once the delivering code increments them.
DELIVERIES = {
    "delivered_succeeded": ("item", "succeeded"),
    "delivered_dead": ("item", "dead"),
    "webhook_dead": ("webhook", "dead"),
    "celery_sent": ("celery", "sent"),
    "webhook_ok": ("webhook", "ok"),
    "webhook_retry": ("webhook", "retry"),
}
ALWAYS = ("delivered_succeeded", "delivered_dead", "webhook_dead")


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


def build_metrics(snapshot: Snapshot) -> list[Metric]:
    """The metric families of one snapshot (pure: no I/O, no clock)."""
    items = _gauge("batchrelay_items", "Items by state.", [*PART, "state"])
    submitted = CounterMetricFamily("batchrelay_items_submitted", "Items accepted.", labels=PART)
    depth = _gauge("batchrelay_queue_depth", "Items waiting to be packed (queue + delayed).", PART)
    delayed = _gauge("batchrelay_queue_delayed", "Items waiting out a retry backoff.", PART)
    oldest = _gauge("batchrelay_queue_oldest_age_seconds", "Age of the queue's head item.", PART)
    dead = _gauge("batchrelay_dead_letters", "Dead-lettered items (incl. webhook).", PART)
    backlog = _gauge(
        "batchrelay_delivery_backlog",
        "Finished items awaiting delivery (the succeeded and dead counts).",
        PART,
    )
    created = CounterMetricFamily(
        "batchrelay_batches_created", "Batches ever created.", labels=PART
    )
    backoff = _gauge(
        "batchrelay_partition_backoff_seconds",
        "Seconds a partition still waits after token_limit_exceeded.",
        PART,
    )
    in_flight = _gauge(
        "batchrelay_tokens_in_flight", "Estimated enqueued tokens at the provider.", PART
    )
    cleanups = _gauge(
        "batchrelay_provider_file_cleanups",
        "Batches whose files are still at the provider (deleted once collected).",
        PART,
    )
    deliveries = CounterMetricFamily(
        "batchrelay_deliveries",
        "Deliveries by kind and outcome.",
        labels=[*PART, "kind", "outcome"],
    )
    for p in snapshot.partitions:
        part = [p.provider, p.endpoint, p.model, p.tenant]
        for state in ItemState:
            items.add_metric([*part, state.value], p.counts.get(state.value, 0))
        submitted.add_metric(part, p.counts.get("submitted_total", 0))
        depth.add_metric(part, p.queued + p.delayed)
        delayed.add_metric(part, p.delayed)
        oldest.add_metric(part, p.oldest_age)
        dead.add_metric(part, p.dead_letters)
        backlog.add_metric(part, p.undelivered)
        created.add_metric(part, p.batches_created)
        backoff.add_metric(part, p.backoff_seconds)
        in_flight.add_metric(part, p.tokens_in_flight)
        cleanups.add_metric(part, p.file_cleanups)
        for name, (kind, outcome) in DELIVERIES.items():
            if name in ALWAYS or name in p.counts:
                deliveries.add_metric([*part, kind, outcome], p.counts.get(name, 0))

    batches = _gauge(
        "batchrelay_batches", "Batches in flight by provider and status.", ["provider", "status"]
    )
    by_status: dict[tuple[str, str], int] = {}
    for provider in sorted({p.provider for p in snapshot.partitions}):
        by_status.update(dict.fromkeys(((provider, s) for s in BATCH_STATUSES), 0))
    for b in snapshot.batches:
        by_status[b.provider, b.status] = by_status.get((b.provider, b.status), 0) + 1
    for (provider, status), count in by_status.items():
        batches.add_metric([provider, status], count)
    expiry = _gauge(
        "batchrelay_batch_expiry_seconds",
        "Seconds until the first live batch's completion window ends.",
    )
    expiries = [b.expires_in for b in snapshot.batches if b.expires_in is not None]
    if expiries:
        expiry.add_metric([], min(expiries))
    stuck = _gauge("batchrelay_batches_stuck", "Live batches validating/finalizing too long.")
    stuck.add_metric([], sum(1 for b in snapshot.batches if b.stuck))

    tokens = CounterMetricFamily("batchrelay_tokens", "Tokens used.", labels=["model", "kind"])
    cost = CounterMetricFamily(
        "batchrelay_cost_usd",
        "Cost in USD at batch prices and at real-time prices.",
        labels=["model", "pricing"],
    )
    for model, c in sorted(snapshot.costs.items()):
        tokens.add_metric([model, "input"], c["tokens_in"])
        tokens.add_metric([model, "output"], c["tokens_out"])
        cost.add_metric([model, "batch"], c["spent_usd"])
        cost.add_metric([model, "realtime"], c["realtime_usd"])
    tenant_cost = CounterMetricFamily(
        "batchrelay_tenant_cost_usd",
        'Cost in USD by tenant, at batch and at real-time prices (no tenant: "").',
        labels=["tenant", "pricing"],
    )
    for tenant, c in sorted(snapshot.tenant_costs.items()):
        tenant_cost.add_metric([tenant, "batch"], c["spent_usd"])
        tenant_cost.add_metric([tenant, "realtime"], c["realtime_usd"])
    requests = CounterMetricFamily(
        "batchrelay_gateway_requests",
        "Requests the gateway answered, over all replicas.",
        labels=["method", "route", "status"],
    )
    request_seconds = CounterMetricFamily(
        "batchrelay_gateway_request_seconds",
        "Time the gateway spent answering them.",
        labels=["method", "route", "status"],
    )
    for r in snapshot.gateway_requests:
        requests.add_metric([r.method, r.route, r.status], r.count)
        request_seconds.add_metric([r.method, r.route, r.status], r.seconds)
    return [
        items,
        submitted,
        depth,
        delayed,
        oldest,
        dead,
        backlog,
        created,
        backoff,
        in_flight,
        cleanups,
        deliveries,
        batches,
        expiry,
        stuck,
        tokens,
        cost,
        tenant_cost,
        requests,
        request_seconds,
    ]


class RedisCollector(Collector):
    """Reads Redis on every scrape; reports batchrelay_up 0 when it cannot."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        started = time.monotonic()
        up = 1
        try:
            families = build_metrics(read_snapshot(self.store))
        except Exception as error:  # any failed read is reported as up=0, never as a 500
            log.warning("scrape failed: %s", error)
            families, up = [], 0
        yield from families
        gauge = _gauge("batchrelay_up", "1 when Redis could be read at this scrape.")
        gauge.add_metric([], up)
        yield gauge
        duration = _gauge("batchrelay_scrape_duration_seconds", "Time spent reading Redis.")
        duration.add_metric([], time.monotonic() - started)
        yield duration


def registry_for(store: Store) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(RedisCollector(store))
    return registry


def serve(host: str, port: int) -> int:
    """Serve /metrics on host:port until SIGTERM or SIGINT."""
    settings = Settings()
    setup_logging(settings)
    redis = connect(settings, socket_timeout=10)
    try:
        server, thread = start_http_server(port, host, registry_for(Store(redis, settings)))
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", host, port, error)
        return 1
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("exporter serving http://%s:%d/metrics", host, port)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    thread.join(5)
    redis.close()
    log.info("exporter stopped")
    return 0
