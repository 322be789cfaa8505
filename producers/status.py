"""States of items and batches, each enum carrying its terminal set."""

from __future__ import annotations

from enum import StrEnum


class ItemState(StrEnum):
    """Where a work item is in its life."""

    QUEUED = "queued"
    PACKED = "packed"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    DELIVERED = "delivered"


class BatchState(StrEnum):
    """Where one of our batches is: our own stages, then OpenAI's statuses, then collected."""

    PACKING = "packing"
    PACKED = "packed"
    UPLOADING = "uploading"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    COLLECTED = "collected"
    ABANDONED = "abandoned"


class OpenAIStatus(StrEnum):
    """The Batch object's status as OpenAI reports it."""

    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


TERMINAL_OPENAI_STATUSES = frozenset(
    {OpenAIStatus.COMPLETED, OpenAIStatus.FAILED, OpenAIStatus.EXPIRED, OpenAIStatus.CANCELLED}
)
LIVE_BATCH_STATES = frozenset({BatchState.SUBMITTED})
TERMINAL_BATCH_STATES = frozenset({BatchState.COLLECTED, BatchState.ABANDONED})
FINISHED_ITEM_STATES = frozenset({ItemState.SUCCEEDED, ItemState.DEAD, ItemState.DELIVERED})
