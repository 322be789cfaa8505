"""`POST /webhooks/<provider>`: OpenAI's batch webhooks, so a batch that ended is collected at
once rather than at the next poll (polling stays, for webhooks that never come).

The signature is checked by the openai SDK (``client.webhooks.unwrap``) with the secret in the
provider's ``webhook_secret_env`` (OPENAI_WEBHOOK_SECRET for the provider ``openai``). No bearer
key: the signature is the authentication. A provider without a secret has no receiver (404).
An event for a batch that is not ours, or of another type, is acknowledged and ignored, so
OpenAI does not send it again."""

from __future__ import annotations

import logging
import os
import threading

import anyio
import openai
from fastapi import APIRouter, Request
from openai.types.webhooks import (
    BatchCancelledWebhookEvent,
    BatchCompletedWebhookEvent,
    BatchExpiredWebhookEvent,
    BatchFailedWebhookEvent,
)

from gateway.backend import Backend
from gateway.errors import GatewayError, JsonResponse, invalid_request
from gateway.state import BackendDep

log = logging.getLogger("batchrelay.gateway")
router = APIRouter()
MAX_BODY_BYTES = 64 * 1024
BATCH_EVENTS = (
    BatchCancelledWebhookEvent,
    BatchCompletedWebhookEvent,
    BatchExpiredWebhookEvent,
    BatchFailedWebhookEvent,
)


class Verifiers:
    """One openai client per provider, kept for its ``webhooks.unwrap``."""

    def __init__(self) -> None:
        self.clients: dict[tuple[str, str], openai.OpenAI] = {}
        self.lock = threading.Lock()

    def client(self, backend: Backend, provider: str) -> openai.OpenAI:
        config = backend.settings.provider_config().providers.get(provider)
        env = config.webhook_env if config is not None else None
        secret = os.environ.get(env, "") if env else ""
        if not secret:
            raise GatewayError(404, f"No webhook receiver for provider {provider!r}.")
        with self.lock:
            found = self.clients.get((provider, secret))
            if found is None:
                found = openai.OpenAI(api_key="webhooks-only", webhook_secret=secret)
                self.clients[(provider, secret)] = found
            return found


verifiers = Verifiers()


@router.post("/webhooks/{provider}", include_in_schema=False)
async def receive(provider: str, request: Request, backend: BackendDep) -> JsonResponse:
    client = verifiers.client(backend, provider)  # 404 before anything is read
    body = await capped_body(request)
    try:
        event = client.webhooks.unwrap(body, request.headers)
    except (openai.InvalidWebhookSignatureError, ValueError):  # unsigned, or not an event
        log.warning("webhook for %s: not a signed event, ignored", provider)
        raise invalid_request("The webhook signature does not verify.") from None
    if not isinstance(event, BATCH_EVENTS):
        return JsonResponse({"received": True, "action": "ignored"})
    batch_id = await anyio.to_thread.run_sync(poll_now, backend, provider, event.data.id)
    if batch_id is None:
        log.info("webhook %s for %s batch %s: not ours", event.type, provider, event.data.id)
        return JsonResponse({"received": True, "action": "ignored"})
    log.info("webhook %s: batch %s polled now", event.type, batch_id)
    return JsonResponse({"received": True, "action": "polled", "batch": batch_id})


async def capped_body(request: Request) -> bytes:
    """The body, refused past MAX_BODY_BYTES: anyone may post here before the signature is
    checked, and a batch event is a few hundred bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise GatewayError(413, "A webhook event is at most 64 KiB.")
    return bytes(body)


def poll_now(backend: Backend, provider: str, provider_id: str) -> str | None:
    """Have a worker poll our batch that is ``provider_id`` at ``provider``; its id, if ours."""
    batch_id = backend.store.batches.owner(provider, provider_id)
    if batch_id is not None:
        backend.dispatcher().poll(batch_id)
    return batch_id
