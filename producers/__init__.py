"""batchrelay's producer SDK: describe work items, submit them to Redis, read their results."""

from producers.async_producer import AsyncProducer
from producers.errors import (
    BatchrelayError,
    InvalidItem,
    InvalidSignature,
    ItemNotFound,
    QueueFull,
    RedisUnavailable,
    Rejection,
    ReplicasUnavailable,
    WaitTimeout,
)
from producers.models import Callback, Endpoint, WorkItem
from producers.producer import Producer
from producers.reading import ItemStatus
from producers.sending import SubmitReport
from producers.settings import Settings
from producers.signing import verify_signature

__all__ = [
    "AsyncProducer",
    "BatchrelayError",
    "Callback",
    "Endpoint",
    "InvalidItem",
    "InvalidSignature",
    "ItemNotFound",
    "ItemStatus",
    "Producer",
    "QueueFull",
    "RedisUnavailable",
    "Rejection",
    "ReplicasUnavailable",
    "Settings",
    "SubmitReport",
    "WaitTimeout",
    "WorkItem",
    "verify_signature",
]
