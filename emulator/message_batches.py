"""Anthropic's Message Batches: records that run on the shared batch machinery (as batches of
`/v1/messages` lines) and show themselves as Anthropic's MessageBatch objects."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from emulator.anthropic_errors import AnthropicError
from emulator.batches import BatchRecord
from emulator.messages import MESSAGES_ENDPOINT
from emulator.pagination import two_way_page

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")


@dataclass
class MessageBatchRecord(BatchRecord):
    """Its OpenAI-side status runs the job; Anthropic's status and counts are its own."""

    created: float = 0.0
    """Creation time to the microsecond (`created_at` holds whole seconds)."""
    cancel_initiated_at: float | None = None
    ended_at: float | None = None
    """Set once the results file is written: only then is the batch `ended`."""
    results_file_id: str | None = None
    result_counts: Counter[str] = field(default_factory=Counter)

    @property
    def processing_status(self) -> str:
        if self.ended_at is not None:
            return "ended"
        return "in_progress" if self.cancel_initiated_at is None else "canceling"


def rfc3339(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message_batch_json(batch: MessageBatchRecord, base_url: str) -> dict[str, Any]:
    """The MessageBatch object; `base_url` (the request's, ending in "/") roots `results_url`.
    As Anthropic documents, requests count as `processing` until the whole batch ends."""
    counts = {name: batch.result_counts[name] for name in RESULT_TYPES}
    ended = batch.ended_at is not None
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": batch.processing_status,
        "request_counts": {"processing": batch.total - sum(counts.values()), **counts},
        "ended_at": rfc3339(batch.ended_at),
        "created_at": rfc3339(batch.created),
        "expires_at": rfc3339(batch.deadline),
        "cancel_initiated_at": rfc3339(batch.cancel_initiated_at),
        "archived_at": None,
        "results_url": f"{base_url}v1/messages/batches/{batch.id}/results" if ended else None,
    }


class MessageBatchStore:
    def __init__(self) -> None:
        self._records: dict[str, MessageBatchRecord] = {}

    def add(self, record: MessageBatchRecord) -> None:
        self._records[record.id] = record

    def get(self, batch_id: str) -> MessageBatchRecord:
        record = self._records.get(batch_id)
        if record is None:
            raise AnthropicError(404, f"No message batch found with id '{batch_id}'.")
        return record

    def delete(self, batch_id: str) -> MessageBatchRecord:
        record = self.get(batch_id)
        del self._records[batch_id]
        return record

    def all(self) -> list[MessageBatchRecord]:
        return list(self._records.values())

    def page(
        self, *, before: str | None, after: str | None, limit: int, base_url: str
    ) -> dict[str, Any]:
        return two_way_page(
            list(reversed(self._records.values())),
            before=before,
            after=after,
            limit=limit,
            id_of=lambda b: b.id,
            to_json=lambda b: message_batch_json(b, base_url),
        )

    def clear(self) -> None:
        self._records.clear()


def _invalid(param: str, problem: str) -> AnthropicError:
    return AnthropicError(400, f"{param}: {problem}")


def checked_requests(body: dict[str, Any], max_requests: int) -> list[dict[str, Any]]:
    """The `requests` of a create body; their envelopes are checked now, their `params` only
    when each runs (a bad one comes back as an `errored` result)."""
    requests = body.get("requests")
    if requests is None:
        raise _invalid("requests", "Field required")
    if not isinstance(requests, list):
        raise _invalid("requests", "Input should be a valid list")
    if not requests:
        raise _invalid("requests", "List should have at least 1 item after validation, not 0")
    if len(requests) > max_requests:
        raise AnthropicError(
            413, f"requests: a batch holds at most {max_requests} requests, got {len(requests)}."
        )
    seen: set[str] = set()
    for index, request in enumerate(requests):
        where = f"requests.{index}"
        if not isinstance(request, dict):
            raise _invalid(where, "Input should be a valid dictionary")
        custom_id = request.get("custom_id")
        if custom_id is None:
            raise _invalid(f"{where}.custom_id", "Field required")
        if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
            pattern = CUSTOM_ID.pattern
            raise _invalid(f"{where}.custom_id", f"String should match pattern '{pattern}'")
        if custom_id in seen:
            raise _invalid(
                f"{where}.custom_id",
                f"Duplicate custom_id '{custom_id}': each request in a batch needs its own.",
            )
        seen.add(custom_id)
        if request.get("params") is None:
            raise _invalid(f"{where}.params", "Field required")
        if not isinstance(request["params"], dict):
            raise _invalid(f"{where}.params", "Input should be a valid dictionary")
    return requests


def write_lines(path: Path, requests: list[dict[str, Any]]) -> None:
    """The requests as the batch input lines the shared runner executes."""
    with path.open("wb") as out:
        for request in requests:
            line = {
                "custom_id": request["custom_id"],
                "method": "POST",
                "url": MESSAGES_ENDPOINT,
                "body": request["params"],
            }
            out.write(orjson.dumps(line) + b"\n")
