"""The Celery implementation of lifecycle.dispatch.Dispatcher: one task message per call."""

from __future__ import annotations

from worker.app import app


class CeleryDispatcher:
    """Sends the lifecycle's follow-up steps as batchrelay.* tasks."""

    def pack(self, tag: str) -> None:
        app.send_task("batchrelay.pack", args=[tag])

    def submit(self, batch_id: str, countdown: float | None = None) -> None:
        app.send_task("batchrelay.submit", args=[batch_id], countdown=countdown)

    def poll(self, batch_id: str) -> None:
        app.send_task("batchrelay.poll_batch", args=[batch_id])

    def collect(self, batch_id: str, countdown: float | None = None) -> None:
        app.send_task("batchrelay.collect", args=[batch_id], countdown=countdown)

    def deliver(self, tag: str, item_ids: list[str]) -> None:
        app.send_task("batchrelay.deliver", args=[tag, item_ids])


dispatcher = CeleryDispatcher()


def retry_delay(attempt: int, hint: float | None = None) -> float:
    """Backoff for a retryable OpenAI error: the server's hint, else 2^n capped at 5 minutes."""
    return hint if hint else float(min(2 ** max(attempt, 1), 300))
