"""The one error tree of batchrelay: every error raised on purpose derives from BatchrelayError."""

from __future__ import annotations

from dataclasses import dataclass


class BatchrelayError(Exception):
    """Base class of every error batchrelay raises on purpose."""


class ConfigurationError(BatchrelayError):
    """A setting is missing or invalid."""


@dataclass(frozen=True)
class Rejection:
    """Why one item was refused: its position, its id if known, the field and the reason."""

    index: int | None
    item_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"item {self.item_id!r}" if self.item_id else f"item #{self.index}"
        if self.item_id and self.index is not None:
            where += f" (#{self.index})"
        return f"{where}: {self.field}: {self.message}"


class InvalidItem(BatchrelayError, ValueError):
    """A work item failed validation; nothing of it was stored."""

    def __init__(self, rejections: list[Rejection]) -> None:
        self.rejections = rejections
        lines = "; ".join(str(r) for r in rejections[:10])
        more = f" (and {len(rejections) - 10} more)" if len(rejections) > 10 else ""
        super().__init__(f"invalid work item: {lines}{more}")


class QueueFull(BatchrelayError):
    """The partition already holds BATCHRELAY_MAX_QUEUED items; the item was not stored."""

    def __init__(self, partition: str, limit: int, item_ids: list[str]) -> None:
        self.partition = partition
        self.limit = limit
        self.item_ids = item_ids
        super().__init__(
            f"queue full: partition {partition} holds its limit of {limit} queued items; "
            f"{len(item_ids)} item(s) not stored, first {item_ids[:3]}"
        )


class RedisUnavailable(BatchrelayError, ConnectionError):
    """Redis did not answer within the time allowed; the URL in the message is masked."""

    def __init__(self, url: str, seconds: float, error: BaseException) -> None:
        self.url = url
        super().__init__(
            f"Redis at {url} unreachable for {seconds:.0f}s: {type(error).__name__}: {error}"
        )


class ReplicasUnavailable(BatchrelayError):
    """A write reached fewer replicas than BATCHRELAY_REDIS_MIN_REPLICAS in time; it may be
    undone by a failover, so it was not acknowledged."""

    def __init__(self, wanted: int, reached: int, wait_ms: int) -> None:
        self.wanted = wanted
        self.reached = reached
        super().__init__(
            f"a write reached {reached} of the {wanted} replica(s) required "
            f"(BATCHRELAY_REDIS_MIN_REPLICAS) within {wait_ms} ms (BATCHRELAY_REDIS_WAIT_MS)"
        )


class ItemNotFound(BatchrelayError, KeyError):
    """No item with this id is known."""


class WaitTimeout(BatchrelayError, TimeoutError):
    """The item did not finish within the time given to Producer.wait()."""


class BatchNotFound(BatchrelayError, KeyError):
    """No batch with this id is known."""


class OpenAIError(BatchrelayError):
    """A call to the Batch API failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)


class LockHeld(BatchrelayError):
    """Another process holds the lock for this unit of work; it will act instead."""


class InvalidSignature(BatchrelayError):
    """A webhook's signature is missing, malformed, stale or does not match."""


class DeliveryFailed(BatchrelayError):
    """A callback could not take a result; `retryable` says whether to try again later."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message)


class WebhookRefused(DeliveryFailed):
    """A webhook target is not allowed (private, loopback or link-local and not allowlisted)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)
