"""batchrelay's producer SDK: describe work items, submit them to Redis, read their results.

The public API is what this module exports; the modules behind it are the SDK's own.
"""

from importlib.metadata import PackageNotFoundError, version

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
from producers.structured import Parsed, parse_result, strict_json_schema, structured_item

try:
    __version__ = version("batchrelay")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AsyncProducer",
    "BatchrelayError",
    "Callback",
    "Endpoint",
    "InvalidItem",
    "InvalidSignature",
    "ItemNotFound",
    "ItemStatus",
    "Parsed",
    "Producer",
    "QueueFull",
    "RedisUnavailable",
    "Rejection",
    "ReplicasUnavailable",
    "Settings",
    "SubmitReport",
    "WaitTimeout",
    "WorkItem",
    "parse_result",
    "strict_json_schema",
    "structured_item",
    "verify_signature",
]
