"""Batch records, their state machine and the Batch object as OpenAI returns it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from emulator.answers import responses_usage
from emulator.config import BatchFaults
from emulator.errors import NotFoundError
from emulator.pagination import cursor_page

FINISHED = frozenset({"completed", "failed", "expired", "cancelled"})

NEXT_STATUSES: dict[str, frozenset[str]] = {
    "validating": frozenset({"in_progress", "failed", "cancelling", "expired"}),
    "in_progress": frozenset({"finalizing", "expired", "cancelling"}),
    "finalizing": frozenset({"completed", "cancelling"}),
    "cancelling": frozenset({"cancelled"}),
}

TIMESTAMP_OF_STATUS = {
    "in_progress": "in_progress_at",
    "finalizing": "finalizing_at",
    "completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelling": "cancelling_at",
    "cancelled": "cancelled_at",
}


@dataclass
class BatchUsage:
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, input_tokens: int, output_tokens: int) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens

    def to_json(self) -> dict[str, Any]:
        return responses_usage(self.input_tokens, self.output_tokens)


@dataclass
class BatchRecord:
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, str] | None
    faults: BatchFaults
    created_at: int
    deadline: float
    """Unix time at which the completion window elapses."""
    status: str = "validating"
    model: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    usage: BatchUsage = field(default_factory=BatchUsage)
    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def expires_at(self) -> int:
        return int(self.deadline)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def move_to(self, status: str) -> None:
        if status not in NEXT_STATUSES.get(self.status, frozenset()):
            raise RuntimeError(f"batch {self.id}: no transition {self.status} -> {status}")
        self.status = status
        setattr(self, TIMESTAMP_OF_STATUS[status], int(time.time()))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": None if self.errors is None else {"object": "list", "data": self.errors},
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.in_progress_at,
            "expires_at": self.expires_at,
            "finalizing_at": self.finalizing_at,
            "completed_at": self.completed_at,
            "failed_at": self.failed_at,
            "expired_at": self.expired_at,
            "cancelling_at": self.cancelling_at,
            "cancelled_at": self.cancelled_at,
            "request_counts": {
                "total": self.total,
                "completed": self.completed,
                "failed": self.failed,
            },
            "usage": self.usage.to_json(),
            "metadata": self.metadata,
        }


class BatchStore:
    def __init__(self) -> None:
        self._records: dict[str, BatchRecord] = {}

    def add(self, record: BatchRecord) -> None:
        self._records[record.id] = record

    def get(self, batch_id: str) -> BatchRecord:
        record = self._records.get(batch_id)
        if record is None:
            raise NotFoundError(f"No batch found with id '{batch_id}'.", param="batch_id")
        return record

    def all(self) -> list[BatchRecord]:
        return list(self._records.values())

    def page(self, *, after: str | None, limit: int) -> dict[str, Any]:
        newest_first = list(reversed(self._records.values()))
        return cursor_page(
            newest_first,
            after=after,
            limit=limit,
            id_of=lambda b: b.id,
            to_json=BatchRecord.to_json,
        )

    def clear(self) -> None:
        self._records.clear()
