"""Work items the tests submit, and the Celery receiver of their callbacks."""

from __future__ import annotations

from typing import Any

from redis import Redis

from producers import Callback
from tests.support.callback_app import RECEIVED_KEY
from worker.testing import Cluster, wait_for

CALLBACK = Callback.celery("receiver.record", queue="results")


def chat(
    item_id: str, model: str = "gpt-4o-mini", text: str = "hello", **extra: Any
) -> dict[str, Any]:
    """A chat-completions work item as a producer passes it to submit()."""
    return {
        "id": item_id,
        "body": {"model": model, "messages": [{"role": "user", "content": text}]},
        **extra,
    }


def message(
    item_id: str, model: str = "claude-haiku-4-5", text: str = "hello", **extra: Any
) -> dict[str, Any]:
    """An Anthropic Messages work item (routed to the provider ``anthropic`` by default)."""
    return {
        "id": item_id,
        "endpoint": "/v1/messages",
        "body": {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]},
        **extra,
    }


def items(n: int, prefix: str = "k") -> list[dict[str, Any]]:
    """``n`` chat items whose results go to the receiver's Celery task."""
    return [chat(f"{prefix}{i:05d}", text=f"q{i}", callback=CALLBACK) for i in range(n)]


def messages(n: int, prefix: str = "m") -> list[dict[str, Any]]:
    """``n`` Anthropic Messages items whose results go to the receiver's Celery task."""
    return [message(f"{prefix}{i:05d}", text=f"q{i}", callback=CALLBACK) for i in range(n)]


def receiver(cluster: Cluster) -> None:
    """A separate service's Celery worker, consuming the `results` queue."""
    cluster.worker("receiver", concurrency=1, queues="results", app="tests.support.callback_app")


def wait_callbacks(redis: Redis, count: int, timeout: float = 60) -> list[Any]:
    """Every callback the receiver recorded, once there are at least ``count``."""
    wait_for(lambda: redis.llen(RECEIVED_KEY) >= count, timeout, "every callback received")
    return list(redis.lrange(RECEIVED_KEY, 0, -1))
