"""The Celery configuration, built from the one Settings object."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from producers.settings import Settings

TASK_QUEUE = "batchrelay"
# Beat's small periodic tasks get their own queue so a backlog of deliveries never delays a poll.
CONTROL_QUEUE = "batchrelay.control"
WORKER_QUEUES = f"{TASK_QUEUE},{CONTROL_QUEUE}"
# Unacked messages come back after this long. Recovery never waits for it (housekeeping acts
# on our own leases), so it sits far above any task's runtime to rule out double execution.
VISIBILITY_TIMEOUT = 6 * 3600


def celery_config(settings: Settings) -> dict[str, Any]:
    """One mapping holding every Celery setting batchrelay needs."""
    tick = settings.aggregate_interval
    return {
        "broker_url": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT},
        "result_backend": None,
        "task_ignore_result": True,
        "task_default_queue": TASK_QUEUE,
        "task_routes": {
            name: {"queue": CONTROL_QUEUE}
            for name in ("batchrelay.tick", "batchrelay.poll", "batchrelay.housekeeping")
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_send_task_events": True,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.redis_url,
        "redbeat_redis_options": {},
        "redbeat_key_prefix": f"{settings.namespace}:redbeat:",
        "redbeat_lock_timeout": int(settings.beat_lock_timeout),
        "beat_max_loop_interval": max(1, int(tick)),
        "beat_schedule": {
            "batchrelay-tick": {
                "task": "batchrelay.tick",
                "schedule": timedelta(seconds=tick),
                "options": {"expires": max(tick * 5, 5.0)},
            },
            "batchrelay-poll": {
                "task": "batchrelay.poll",
                "schedule": timedelta(seconds=settings.poll_interval),
                "options": {"expires": max(settings.poll_interval * 3, 5.0)},
            },
            "batchrelay-housekeeping": {
                "task": "batchrelay.housekeeping",
                "schedule": timedelta(seconds=settings.housekeeping_interval),
                "options": {"expires": max(settings.housekeeping_interval * 3, 5.0)},
            },
        },
    }
