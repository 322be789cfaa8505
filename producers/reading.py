"""The SDK's reads, as plans (producers/plans.py): one implementation that Producer and
AsyncProducer both run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import orjson

from producers.keys import Keys, PartitionKeys
from producers.plans import Plan, one
from producers.replies import text, text_hash
from producers.results import read_results_plan
from producers.status import ItemState

STATE_ORDER = {state.value: n for n, state in enumerate(ItemState)}
TIMESTAMP = "_at"  # an item's '<state>_at' fields say when it reached each state
# A waiter re-announces itself this often, so its flag never lapses; each BLPOP blocks this
# long at most, under the client's read timeout (producers/connection.py).
WAIT_SLICE = 20.0


@dataclass(frozen=True)
class ItemStatus:
    """An item's state as stored in Redis."""

    id: str
    state: str
    attempt: int
    batch_id: str | None
    outcome: str | None
    code: str | None
    message: str | None
    history: str
    timestamps: dict[str, float]
    partition: str


def partitions_plan(keys: Keys) -> Plan[dict[str, dict[str, str]]]:
    """Every known partition: tag -> {endpoint, model}."""
    raw = yield from one(("HGETALL", keys.partitions))
    return {text(k): orjson.loads(v) for k, v in raw.items()}


class Locator:
    """Finds the partition that holds an id, remembering the partitions it has seen (the
    registry only grows, so it is read again only when an id is not found)."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.tags: list[str] = []

    def plan(self, item_ids: Iterable[str]) -> Plan[dict[str, PartitionKeys]]:
        """The partition of each known id (unknown ids are left out), in one round trip."""
        ids = list(item_ids)
        found = yield from self._look(ids, self.tags)
        if len(found) < len(ids):
            fresh = list((yield from partitions_plan(self.keys)))
            if fresh != self.tags:
                self.tags = fresh
                found = yield from self._look(ids, fresh)
        return found

    def _look(self, ids: list[str], tags: list[str]) -> Plan[dict[str, PartitionKeys]]:
        if not ids or not tags:
            return {}
        exists = iter(
            (yield [("EXISTS", self.keys.partition(t).item(i)) for i in ids for t in tags])
        )
        found: dict[str, PartitionKeys] = {}
        for item_id in ids:
            for tag in tags:
                if next(exists):
                    found[item_id] = self.keys.partition(tag)
        return found


def status_plan(keys: PartitionKeys, item_id: str) -> Plan[ItemStatus]:
    """The item's state, attempt, batch, last error and timestamps."""
    raw = text_hash((yield from one(("HGETALL", keys.item(item_id)))))
    if raw.get("state") == "queued" and "segment" in raw:
        # Packed: queued in a segment a batch has claimed (packing writes no item state).
        claim = yield from one(("HMGET", keys.segment(raw["segment"]), "batch", "claimed_at"))
        batch, claimed = claim
        if batch is not None:
            raw.update(state="packed", batch=text(batch), packed_at=text(claimed or b"0"))
    elif raw.get("state") == "submitted" and raw.get("batch"):
        # Succeeded: its batch stored the result, delivery has not written the state yet.
        tail, settled = yield [
            ("HGET", keys.results(raw["batch"]), item_id),
            ("HGET", keys.batch(raw["batch"]), "settled_at"),
        ]
        if tail:
            raw.update(state="succeeded", outcome="succeeded", succeeded_at=text(settled or b"0"))
    stamps = {
        name.removesuffix(TIMESTAMP): float(value)
        for name, value in raw.items()
        if name.endswith(TIMESTAMP)
    }
    return ItemStatus(
        id=item_id,
        state=raw.get("state", "unknown"),
        attempt=int(raw.get("attempt", "1")),
        batch_id=raw.get("batch"),
        outcome=raw.get("outcome"),
        code=raw.get("code"),
        message=raw.get("message"),
        history=raw.get("history", ""),
        timestamps=dict(sorted(stamps.items(), key=lambda kv: (kv[1], STATE_ORDER.get(kv[0], 99)))),
        partition=keys.prefix,
    )


def result_plan(located: dict[str, PartitionKeys]) -> Plan[dict[str, dict[str, Any] | None]]:
    """Each located item's final result (succeeded or dead), or None while it has none."""
    stored = yield from read_results_plan(located)
    return {
        item_id: None if r.raw is None else dict(orjson.loads(r.raw))
        for item_id, r in stored.items()
    }


def states_plan(located: dict[str, PartitionKeys]) -> Plan[dict[str, str]]:
    """The current state of each located item."""
    stored = yield from read_results_plan(located, ("segment",), wanted=lambda _fields: False)
    out = {item_id: r.state for item_id, r in stored.items()}
    queued = {  # item id -> key of the segment it is queued in
        item_id: located[item_id].segment(r.fields["segment"])
        for item_id, r in stored.items()
        if r.state == "queued" and r.fields["segment"]
    }
    segments = sorted(set(queued.values()))
    if segments:
        claimed_by = yield [("HEXISTS", key, "batch") for key in segments]
        claimed = {key for key, owned in zip(segments, claimed_by, strict=True) if owned}
        out.update({i: "packed" for i, key in queued.items() if key in claimed})
    return out


def request_line_plan(keys: PartitionKeys, item_id: str) -> Plan[bytes | None]:
    """The item's request line as it goes into a batch file."""
    line, segment = yield from one(("HMGET", keys.item(item_id), "line", "segment"))
    if line is not None or segment is None:
        return cast(bytes | None, line)
    position = yield from one(("LPOS", keys.segment_ids(text(segment)), item_id))
    if not isinstance(position, int):
        return None
    found = yield from one(("LINDEX", keys.segment_lines(text(segment)), position))
    return cast(bytes | None, found)


def wait_once_plan(keys: PartitionKeys, item_id: str, block: float) -> Plan[bytes | None]:
    """The item's result, else block up to ``block`` seconds for the wake-up (not at all if
    ``block`` is not positive); None if there is no result yet."""
    # Announce the waiter before looking for the result: a result stored after the look then
    # always finds the flag and pushes the wake-up.
    yield from one(("SET", keys.waiting(item_id), b"1", "EX", int(WAIT_SLICE) + 30))
    stored = yield from read_results_plan({item_id: keys})
    if stored[item_id].raw is not None or block <= 0:
        return stored[item_id].raw
    woke = yield from one(("BLPOP", keys.notify(item_id), block))
    if woke is not None:
        # Put the token back so every other waiter on this item wakes up too.
        yield [("RPUSH", keys.notify(item_id), b"1"), ("EXPIRE", keys.notify(item_id), 300)]
    return None
