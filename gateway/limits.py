"""Per-tenant limits: BATCHRELAY_GATEWAY_TENANT_MAX_QUEUED, checked before a batch or an item
is accepted (the count may overshoot by what concurrent requests add meanwhile)."""

from __future__ import annotations

from gateway.backend import Backend
from gateway.errors import GatewayError

RETRY_AFTER_SECONDS = 60


def tenant_queued(backend: Backend, tenant: str) -> int:
    """Items of the tenant waiting to be packed, over its partitions."""
    pipe = backend.redis.pipeline(transaction=False)
    for partition in backend.store.partitions.all():
        if partition.tenant == tenant:
            keys = backend.keys.partition(partition.tag)
            pipe.hget(keys.queue_state, "length")
            pipe.zcard(keys.delayed)
    return sum(int(n or 0) for n in pipe.execute())


def check_room(backend: Backend, tenant: str) -> None:
    """429 when the tenant has BATCHRELAY_GATEWAY_TENANT_MAX_QUEUED items waiting already."""
    limit = backend.settings.gateway_tenant_max_queued
    if limit is not None and tenant_queued(backend, tenant) >= limit:
        raise GatewayError(
            429,
            f"Tenant {tenant} has {limit} or more requests queued; try again later.",
            "rate_limit_error",
            code="tenant_queue_full",
            headers={"retry-after": str(RETRY_AFTER_SECONDS)},
        )
