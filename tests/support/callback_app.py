"""A separate service's Celery app: its task receives batchrelay results on queue `results`.

It shares batchrelay's broker (BATCHRELAY_REDIS_URL, a Sentinel URL included) and records
what it receives there.
"""

from __future__ import annotations

from typing import Any

import orjson
from celery import Celery
from redis import Redis

from producers.connection import connect
from producers.settings import Settings
from worker import broker
from worker.config import broker_config

RECEIVED_KEY = "test:received"

broker.register()
app = Celery("receiver")
app.conf.update(broker_config(Settings()))
app.conf.task_default_queue = "results"
app.conf.worker_hijack_root_logger = False


_redis: list[Redis] = []


@app.task(name="receiver.record", bind=True)
def record(self: Any, result: dict[str, Any]) -> None:
    if not _redis:
        _redis.append(connect(Settings()))
    redis = _redis[0]
    entry = {
        "task_id": self.request.id,
        "id": result["id"],
        "key": result["idempotency_key"],
        "status": result["status"],
    }
    redis.rpush(RECEIVED_KEY, orjson.dumps(entry))
