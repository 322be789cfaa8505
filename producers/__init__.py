"""batchrelay's producer SDK: describe work items, submit them to Redis, read their results."""

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
from producers.producer import ItemStatus, Producer
from producers.sending import SubmitReport
from producers.settings import Settings
from producers.signing import verify_signature

__all__ = [
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
