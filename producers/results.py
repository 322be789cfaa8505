"""Items' results as readers see them.

A batch stores its results in one hash, item id -> the result JSON without its first three
fields (collect writes them in bulk, without reading the items). The attempt, idempotency key
and metadata come from the item's own hash when the result is read. An item whose batch
stored its result while the item still reads `submitted` has succeeded: collect leaves the
state to delivery, which writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
from redis import Redis

from producers.keys import PartitionKeys

FIELDS = ("st", "b", "att", "md")


@dataclass(frozen=True)
class StoredResult:
    """An item's state (derived as above), its fields asked for and its result JSON or None."""

    state: str
    fields: dict[str, str]
    raw: bytes | None


def compose(item_id: str, attempt: str, metadata: str, tail: bytes) -> bytes:
    """The result JSON: the item's attempt, idempotency key and metadata, then ``tail``."""
    key = orjson.dumps(f"{item_id}:{attempt}")
    head = b'{"attempt":%s,"idempotency_key":%s,"metadata":%s,' % (
        attempt.encode(),
        key,
        (metadata or "{}").encode(),
    )
    return head + tail


def read_results(
    redis: Redis, located: Mapping[str, PartitionKeys], extra: Sequence[str] = ()
) -> dict[str, StoredResult]:
    """The result of each located item, in two round trips (the items, then their results)."""
    names = (*FIELDS, *extra)
    pipe = redis.pipeline(transaction=False)
    for item_id, pk in located.items():
        pipe.hmget(pk.item(item_id), names)
    fields = [
        dict(zip(names, (v.decode() if v is not None else "" for v in values), strict=True))
        for values in pipe.execute()
    ]
    pipe = redis.pipeline(transaction=False)
    asked = []
    for (item_id, pk), f in zip(located.items(), fields, strict=True):
        if f["b"]:
            pipe.hget(pk.results(f["b"]), item_id)
            asked.append(item_id)
    tails = dict(zip(asked, pipe.execute(), strict=True)) if asked else {}
    out = {}
    for item_id, f in zip(located, fields, strict=True):
        tail = tails.get(item_id)
        state = f["st"]
        if state == "submitted" and tail:
            state = "succeeded"
        raw = compose(item_id, f["att"] or "1", f["md"], tail) if tail else None
        out[item_id] = StoredResult(state, f, raw)
    return out
