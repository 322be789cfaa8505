"""The Celery configuration, built from the one Settings object."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from producers.connection import (
    CONNECT_TIMEOUT,
    SOCKET_TIMEOUT,
    is_sentinel_url,
    parse_sentinel_url,
    sentinel_password,
)
from producers.settings import Settings

TASK_QUEUE = "batchrelay"
# Beat's small periodic tasks get their own queue so a backlog of deliveries never delays a poll.
CONTROL_QUEUE = "batchrelay.control"
WORKER_QUEUES = f"{TASK_QUEUE},{CONTROL_QUEUE}"
# Unacked messages come back after this long. Recovery never waits for it (housekeeping acts
# on our own leases), so it sits far above any task's runtime to rule out double execution.
VISIBILITY_TIMEOUT = 6 * 3600


def broker_config(settings: Settings) -> dict[str, Any]:
    """Celery's broker from BATCHRELAY_REDIS_URL; a ``redis+sentinel://`` URL becomes kombu's
    list of ``sentinel://`` URLs and the service's name as ``master_name``."""
    options: dict[str, Any] = {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        # Without a read timeout, a connection to a primary that vanished hangs forever.
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": CONNECT_TIMEOUT,
    }
    url = settings.redis_url
    if is_sentinel_url(url):
        target = parse_sentinel_url(url)
        auth = ""
        if target.password is not None:  # kombu authenticates to Redis with it
            auth = f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"
        url = ";".join(
            f"sentinel://{auth}{host}:{port}/{target.db}" for host, port in target.sentinels
        )
        options["master_name"] = target.service
        if (password := sentinel_password(settings)) is not None:
            options["sentinel_kwargs"] = {"password": password}
    return {"broker_url": url, "broker_transport_options": options}


def celery_config(settings: Settings) -> dict[str, Any]:
    """One mapping holding every Celery setting batchrelay needs."""
    settings.provider_config()  # a wrong providers file stops every role at start, by name
    tick = settings.aggregate_interval
    return {
        **broker_config(settings),
        "broker_connection_retry_on_startup": True,
        # Reconnect for as long as it takes; a worker that gives up stops consuming for good.
        "broker_connection_max_retries": None,
        "result_backend": None,
        "task_ignore_result": True,
        "task_default_queue": TASK_QUEUE,
        "task_routes": {
            name: {"queue": CONTROL_QUEUE}
            for name in (
                "batchrelay.tick",
                "batchrelay.poll",
                "batchrelay.poll_batch",
                "batchrelay.housekeeping",
                "batchrelay.files",
            )
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_send_task_events": True,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "beat_scheduler": "worker.beat:Scheduler",
        "redbeat_redis_url": settings.redis_url,
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
            "batchrelay-files": {
                "task": "batchrelay.files",
                "schedule": timedelta(seconds=settings.housekeeping_interval),
                "options": {"expires": max(settings.housekeeping_interval * 3, 5.0)},
            },
        },
    }
