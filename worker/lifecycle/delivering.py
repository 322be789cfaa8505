"""Fan-out: hand each finished item's result to its callbacks, then mark it delivered.

The Redis result was stored when the item was settled; here the Celery task and the webhook
get it. Each delivery carries the idempotency key ``<item id>:<attempt>``. A Celery callback
is sent once (recorded on the item); a webhook is retried with backoff and dead-lettered
after the last try.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from producers.errors import DeliveryFailed
from producers.models import Callback
from producers.settings import Settings
from worker.failpoints import failpoint
from worker.store import Store
from worker.webhooks import WebhookSender

log = logging.getLogger("batchrelay.delivering")
SendTask = Callable[[str, str, dict[str, Any], str], None]
DELIVERABLE = ("succeeded", "dead")


@dataclass
class DeliveryReport:
    delivered: int = 0
    celery: int = 0
    webhooks: int = 0
    webhook_retries: int = 0
    webhook_dead: int = 0


def webhook_backoff(tries: int) -> float:
    return float(min(2**tries, 600))


def deliver(
    store: Store,
    settings: Settings,
    send_task: SendTask,
    webhooks: WebhookSender,
    tag: str,
    item_ids: list[str],
) -> DeliveryReport:
    """Deliver a chunk of one partition's finished items."""
    report = DeliveryReport()
    done: list[str] = []
    taken = store.deliveries.take(tag, item_ids)
    for item_id, stored in store.deliveries.payloads(tag, taken).items():
        fields, raw = stored.fields, stored.raw
        if stored.state not in DELIVERABLE:
            if stored.state == "delivered":
                done.append(item_id)
            continue
        if not fields["callback"] or raw is None:
            if fields["callback"]:
                log.warning("item %s: result expired before delivery", item_id)
            done.append(item_id)  # without a callback its Redis result is its delivery
            continue
        callback = Callback.model_validate_json(fields["callback"])
        result = orjson.loads(raw)
        key = str(result.get("idempotency_key", item_id))
        if callback.task and not fields["callback_sent"]:
            send_task(callback.task, callback.queue, result, key)
            report.celery += 1
            if report.celery == 10:
                failpoint("deliver.mid")
        if callback.url:
            try:
                webhooks.send(callback.url, raw, key, callback.headers)
                report.webhooks += 1
            except DeliveryFailed as error:
                tries = int(fields["webhook_tries"] or 0) + 1
                # The Celery callback already went out: remember it so the retry skips it,
                # and end the lease, so the retry at its due time may take the item.
                store.deliveries.note(
                    tag,
                    item_id,
                    webhook_tries=tries,
                    webhook_error=str(error)[:300],
                    callback_sent=1,
                    delivery_lease=0,
                )
                if error.retryable and tries < settings.webhook_max_tries:
                    store.deliveries.retry_at(tag, item_id, time.time() + webhook_backoff(tries))
                    report.webhook_retries += 1
                    log.info("item %s: webhook try %d failed, retrying: %s", item_id, tries, error)
                    continue
                store.deliveries.dead_letter(tag, item_id, f"webhook_failed: {error}")
                report.webhook_dead += 1
                log.warning(
                    "item %s: webhook dead-lettered after %d tries: %s", item_id, tries, error
                )
        done.append(item_id)
    for name, n in (
        ("celery_sent", report.celery),
        ("webhook_ok", report.webhooks),
        ("webhook_retry", report.webhook_retries),
    ):
        if n:
            store.partitions.add_count(tag, name, n)
    report.delivered = store.deliveries.mark_delivered(tag, done)
    return report
