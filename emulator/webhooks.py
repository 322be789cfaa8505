"""OpenAI's batch webhooks: when an OpenAI batch finishes, a `batch.completed`, `batch.failed`,
`batch.expired` or `batch.cancelled` event is POSTed to `--webhook-url`, signed as OpenAI signs
them (Standard Webhooks), so that the `openai` SDK's `client.webhooks.unwrap(body, headers)`
verifies and parses it.

Each delivery runs in a task of its own, never in the batch's. A non-2xx answer (redirects
included) or a connection error is retried: `MAX_ATTEMPTS` tries in all, waiting 0.2, 0.4, 0.8
and 1.6 s between them; then the event is given up (OpenAI keeps retrying for up to 72 hours).
Every try keeps the delivery's `webhook-id`, which receivers deduplicate on, and is signed
afresh with the current `webhook-timestamp`, which receivers check against replays.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import random
import time
from typing import Any

import httpx
import orjson

from emulator import ids
from emulator.batches import TIMESTAMP_OF_STATUS, BatchRecord

log = logging.getLogger(__name__)

EVENT_TYPES = {
    "completed": "batch.completed",
    "failed": "batch.failed",
    "expired": "batch.expired",
    "cancelled": "batch.cancelled",
}
MAX_ATTEMPTS = 5
FIRST_BACKOFF_SECONDS = 0.2
ATTEMPT_TIMEOUT_SECONDS = 5.0
USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret: the decoded base64."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(key: bytes, webhook_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, webhook_id, timestamp, body),
    }


def batch_event(batch: BatchRecord) -> dict[str, Any]:
    """The event of a finished batch; `created_at` is when it finished."""
    finished_at: int | None = getattr(batch, TIMESTAMP_OF_STATUS[batch.status])
    return {
        "id": ids.new_id("evt_", 32),
        "object": "event",
        "type": EVENT_TYPES[batch.status],
        "created_at": finished_at if finished_at is not None else int(time.time()),
        "data": {"id": batch.id},
    }


class WebhookSender:
    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self._key = secret_key(secret)
        self._client = httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT_SECONDS)
        self._tasks: set[asyncio.Task[bool]] = set()

    def batch_finished(self, batch: BatchRecord, rng: random.Random) -> None:
        """Starts delivering the batch's event in the background, unless the
        `webhook_drop_rate` fault drops it."""
        if batch.status not in EVENT_TYPES:
            return
        drop_rate = batch.faults.webhook_drop_rate
        if drop_rate and rng.random() < drop_rate:
            log.info("webhook of batch %s dropped (webhook_drop_rate)", batch.id)
            return
        task = asyncio.create_task(self.deliver(batch_event(batch)), name=f"webhook-{batch.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, event: dict[str, Any]) -> bool:
        """POSTs the event until a 2xx answer or `MAX_ATTEMPTS` tries; True once delivered."""
        body = orjson.dumps(event)
        webhook_id = ids.new_id("wh_", 32)
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                await asyncio.sleep(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
            headers = signed_headers(self._key, webhook_id, body, int(time.time()))
            try:
                response = await self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                outcome = repr(exc)
            else:
                if response.is_success:
                    return True
                outcome = f"HTTP {response.status_code}"
            log.warning(
                "webhook %s (%s) try %d/%d: %s",
                event["type"],
                event["data"]["id"],
                attempt + 1,
                MAX_ATTEMPTS,
                outcome,
            )
        log.error("webhook %s (%s) given up", event["type"], event["data"]["id"])
        return False

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
