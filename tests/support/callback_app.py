"""A separate service's Celery app: its task receives batchrelay results on queue `results`."""

from __future__ import annotations

import os
from typing import Any

import orjson
from celery import Celery
from redis import Redis

RECEIVED_KEY = "test:received"

app = Celery("receiver", broker=os.environ.get("BATCHRELAY_REDIS_URL", "redis://127.0.0.1:6379/9"))
app.conf.task_default_queue = "results"
app.conf.worker_hijack_root_logger = False


_redis: list[Redis] = []


@app.task(name="receiver.record", bind=True)
def record(self: Any, result: dict[str, Any]) -> None:
    if not _redis:
        _redis.append(Redis.from_url(os.environ["BATCHRELAY_REDIS_URL"]))
    redis = _redis[0]
    entry = {
        "task_id": self.request.id,
        "id": result["id"],
        "key": result["idempotency_key"],
        "status": result["status"],
    }
    redis.rpush(RECEIVED_KEY, orjson.dumps(entry))
