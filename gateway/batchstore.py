"""The gateway's batches in Redis: a HASH each, a ZSET per tenant, and the set of batches not
finished yet (producers/keys.md, gateway batch keys). Sync: the batch routes run in FastAPI's
thread pool, and the janitor (gateway/janitor.py) in a thread of its own."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis import Redis

from gateway.errors import not_found
from producers.keys import Keys
from producers.replies import text, text_hash

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def new_batch_id() -> str:
    """An id shaped like OpenAI's: ``batch_`` and 24 hex digits."""
    return "batch_" + secrets.token_hex(12)


def item_id(batch_id: str, line: int) -> str:
    """The work item of a batch's line (0-based, blank lines not counted)."""
    return f"{batch_id}-{line}"


@dataclass(frozen=True)
class GatewayBatch:
    """One gateway batch as stored (its fields: producers/keys.md)."""

    id: str
    fields: dict[str, str]

    @property
    def tenant(self) -> str:
        return self.fields.get("tenant", "")

    @property
    def status(self) -> str:
        return self.fields.get("status", "")

    def number(self, name: str) -> float:
        return float(self.fields.get(name) or 0)

    def json(self, name: str, default: Any = None) -> Any:
        raw = self.fields.get(name)
        return orjson.loads(raw) if raw else default

    @property
    def partitions(self) -> list[str]:
        """The tags of the partitions its items went to (one per model, as a rule)."""
        return list(self.json("partitions", []))


class BatchStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def create(
        self,
        tenant: str,
        input_file_id: str,
        endpoint: str,
        window: str,
        window_seconds: float,
        metadata: dict[str, str] | None,
    ) -> GatewayBatch:
        batch_id = new_batch_id()
        now = time.time()
        fields: dict[Any, Any] = {
            "tenant": tenant,
            "status": "validating",
            "endpoint": endpoint,
            "input_file_id": input_file_id,
            "completion_window": window,
            "created_at": repr(now),
            "expires_at": repr(now + window_seconds),
            "metadata": orjson.dumps(metadata).decode() if metadata is not None else "",
        }
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.gateway_batch(batch_id), mapping=fields)
        pipe.zadd(self.keys.gateway_batches(tenant), {batch_id: now})
        pipe.zadd(self.keys.gateway_open, {batch_id: now})
        # The file may not be deleted while this batch reads it (gateway/filestore.py).
        pipe.hset(self.keys.gateway_file(input_file_id), "validating", batch_id)
        pipe.execute()
        return GatewayBatch(batch_id, {k: str(v) for k, v in fields.items()})

    def load(self, batch_id: str) -> GatewayBatch | None:
        fields = text_hash(self.redis.hgetall(self.keys.gateway_batch(batch_id)))
        return GatewayBatch(batch_id, fields) if fields else None

    def get(self, tenant: str, batch_id: str) -> GatewayBatch:
        """The tenant's batch; 404 when it is missing or another tenant's."""
        batch = self.load(batch_id)
        if batch is None or batch.tenant != tenant:
            raise not_found("batch", batch_id)
        return batch

    def page(self, tenant: str, after: str | None, limit: int) -> tuple[list[GatewayBatch], bool]:
        """The tenant's batches, newest first, after the one named (OpenAI's pagination)."""
        index = self.keys.gateway_batches(tenant)
        start = 0
        if after:
            rank = self.redis.zrevrank(index, after)
            if rank is None:
                return [], False
            start = cast(int, rank) + 1
        ids = [text(b) for b in self.redis.zrevrange(index, start, start + limit)]
        found = [b for b in (self.load(i) for i in ids[:limit]) if b is not None]
        return found, len(ids) > limit

    def update(self, batch_id: str, **fields: Any) -> None:
        mapping = {k: "" if v is None else str(v) for k, v in fields.items()}
        self.redis.hset(self.keys.gateway_batch(batch_id), mapping=mapping)  # type: ignore[arg-type]

    def move(self, batch_id: str, expected: frozenset[str], status: str, **fields: Any) -> bool:
        """Set the status (and its ``<status>_at``) if it is one of ``expected``; atomic with
        respect to other replicas through WATCH."""
        key = self.keys.gateway_batch(batch_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.watch(key)  # type: ignore[no-untyped-call]
            current = pipe.hget(key, "status")
            if current is None or text(current) not in expected:
                return False
            pipe.multi()
            mapping = {"status": status, f"{status}_at": repr(time.time())}
            mapping.update({k: "" if v is None else str(v) for k, v in fields.items()})
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            if status in TERMINAL:
                pipe.zrem(self.keys.gateway_open, batch_id)
            pipe.execute()
        return True

    def schedule(self, batch_id: str, when: float) -> None:
        """Look at the batch again at ``when`` (any replica's janitor)."""
        self.redis.zadd(self.keys.gateway_open, {batch_id: when}, xx=True)

    def due(self, now: float, limit: int) -> list[str]:
        raw = self.redis.zrangebyscore(self.keys.gateway_open, "-inf", now, 0, limit)
        return [text(b) for b in raw]
