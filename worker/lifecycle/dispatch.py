"""How lifecycle steps ask for follow-up work, without knowing about Celery."""

from __future__ import annotations

from typing import Protocol


class Dispatcher(Protocol):
    """Schedules the next step; the Celery implementation sends a task per call."""

    def pack(self, tag: str) -> None: ...

    def submit(self, batch_id: str) -> None: ...

    def collect(self, batch_id: str) -> None: ...

    def deliver(self, tag: str, item_ids: list[str]) -> None: ...
