"""Items' results as readers see them.

A batch stores its results in one hash, item id -> either the output line of a success as it
came from OpenAI (collect stores those in bulk, without reading or writing the items), or the
result JSON without its first three fields. The attempt, idempotency key and metadata come
from the item's own hash when the result is read. An item whose batch stored its result while
the item still reads `submitted` has succeeded: delivery writes the state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis import Redis

from producers.keys import PartitionKeys
from producers.plans import Plan, RoundTrip, run

FIELDS = ("state", "batch", "attempt", "metadata")


@dataclass(frozen=True)
class StoredResult:
    """An item's state (derived as above), its fields asked for and its result JSON or None."""

    state: str
    fields: dict[str, str]
    raw: bytes | None


TAIL_START = b'"id":'


def result_tail(
    item_id: str, status: str, response: Any, error: Any, batch_id: str, openai_id: str | None
) -> bytes:
    """The result JSON without its opening brace and the item's own fields."""
    return orjson.dumps({
        "id": item_id, "custom_id": item_id, "status": status, "response": response,
        "error": error, "batch_id": batch_id, "openai_batch_id": openai_id,
    })[1:]  # fmt: skip


def compose(item_id: str, fields: dict[str, str], stored: bytes, openai_id: str | None) -> bytes:
    """The result JSON of an item from its ``fields`` and what its batch ``stored``."""
    attempt = fields["attempt"] or "1"
    key = orjson.dumps(f"{item_id}:{attempt}")
    head = b'{"attempt":%s,"idempotency_key":%s,"metadata":%s,'
    head %= (attempt.encode(), key, (fields["metadata"] or "{}").encode())
    if stored.startswith(TAIL_START):
        return head + stored
    response = orjson.loads(stored).get("response")  # an output line, stored as it came
    return head + result_tail(item_id, "succeeded", response, None, fields["batch"], openai_id)


def read_results_plan(
    located: Mapping[str, PartitionKeys],
    extra: Sequence[str] = (),
    wanted: Callable[[dict[str, str]], bool] = lambda _fields: True,
) -> Plan[dict[str, StoredResult]]:
    """The state of each located item and, where ``wanted`` (given its fields) says so, its
    result JSON; in two round trips (the items, then their results)."""
    names = (*FIELDS, *extra)
    if not located:
        return {}
    replies = yield [("HMGET", keys.item(item_id), *names) for item_id, keys in located.items()]
    fields = [
        dict(zip(names, (v.decode() if v is not None else "" for v in values), strict=True))
        for values in replies
    ]
    commands: RoundTrip = []
    asked = []
    for (item_id, keys), f in zip(located.items(), fields, strict=True):
        if not f["batch"]:
            continue
        if wanted(f):
            commands.append(("HGET", keys.results(f["batch"]), item_id))
            commands.append(("HGET", keys.batch(f["batch"]), "provider_id"))
        else:  # whether there is one, without moving it
            commands.append(("HSTRLEN", keys.results(f["batch"]), item_id))
            commands.append(("ECHO", b""))
        asked.append(item_id)
    replies = (yield commands) if asked else []
    stored = {i: (replies[2 * n], replies[2 * n + 1]) for n, i in enumerate(asked)}
    out = {}
    for item_id, f in zip(located, fields, strict=True):
        value, provider_id = stored.get(item_id, (None, None))
        state = f["state"]
        if state == "submitted" and value:
            state = "succeeded"
        raw = None
        if isinstance(value, bytes) and value:
            raw = compose(item_id, f, value, provider_id.decode() if provider_id else None)
        out[item_id] = StoredResult(state, f, raw)
    return out


def read_results(
    redis: Redis,
    located: Mapping[str, PartitionKeys],
    extra: Sequence[str] = (),
    wanted: Callable[[dict[str, str]], bool] = lambda _fields: True,
) -> dict[str, StoredResult]:
    """read_results_plan() with a sync client."""
    return run(read_results_plan(located, extra, wanted), redis)
