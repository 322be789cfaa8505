"""A separate service's Celery app: its task receives batchrelay results on queue `results`.

It shares batchrelay's broker (BATCHRELAY_REDIS_URL, a Sentinel URL included) and records
what it receives there. With BATCHRELAY_REDIS_MIN_REPLICAS set, a record counts only once
that many replicas hold it, and is written again until they do: a failover must not lose the
test's own evidence (the message was acked before the task ran).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from celery import Celery
from redis import Redis
from redis.exceptions import RedisError

from producers.connection import connect
from producers.settings import Settings
from worker import broker
from worker.config import broker_config

RECEIVED_KEY = "test:received"
RECORD_SECONDS = 60.0

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
    settings = Settings()
    replicas = settings.redis_min_replicas
    payload = orjson.dumps(entry)
    deadline = time.monotonic() + RECORD_SECONDS
    while True:
        try:
            redis.rpush(RECEIVED_KEY, payload)
            if not replicas or int(redis.wait(replicas, settings.redis_wait_ms)) >= replicas:
                return
        except RedisError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise RuntimeError(f"record of {entry['id']} not on {replicas} replica(s)")
        time.sleep(0.2)
