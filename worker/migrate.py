"""`batchrelay migrate`: rewrite data of an older format in place (producers/data_format.py).

Format 1 to 2: every hash field gets its name in words, and each batch's segment list moves
from ``members:<id>`` to ``batch:<id>:segments``. Run it with every producer and worker
stopped; it is safe to run again (what is already renamed is left as it is).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from redis import Redis

from producers.data_format import FORMAT
from producers.keys import Keys, PartitionKeys
from producers.replies import text

log = logging.getLogger("batchrelay.migrate")

ITEM_FIELDS = {
    "st": "state", "b": "batch", "sg": "segment", "cb": "callback", "md": "metadata",
    "nin": "inputs", "att": "attempt", "out": "outcome", "hist": "history", "msg": "message",
    "dl_until": "delivery_lease", "dl_task": "callback_sent", "wh_tries": "webhook_tries",
    "wh_err": "webhook_error", "dl_err": "delivery_error",
}  # fmt: skip
SEGMENT_FIELDS = {
    "n": "items", "cbs": "callbacks", "t0": "opened_at", "owner": "batch",
    "t_claimed": "claimed_at",
}  # fmt: skip
BATCH_FIELDS = {
    "st": "state", "n": "items", "openai_id": "provider_id", "oa_status": "provider_status",
    "oa_total": "provider_total", "oa_completed": "provider_completed",
    "oa_failed": "provider_failed", "created": "created_at", "t_settled": "settled_at",
}  # fmt: skip
QUEUE_STATE_FIELDS = {"len": "length", "next": "last_segment"}


@dataclass
class MigrationReport:
    hashes: int = 0
    fields: int = 0
    lists: int = 0


def new_name(name: str, renames: dict[str, str]) -> str | None:
    """The field's format-2 name, or None when it keeps its name; ``t_<state>`` becomes
    ``<state>_at``."""
    if name in renames:
        return renames[name]
    if name.startswith("t_"):
        return name[2:] + "_at"
    return None


def rename_fields(redis: Redis, key: str, renames: dict[str, str]) -> int:
    """Rename the hash's fields in one MULTI; returns how many moved."""
    fields = {text(k): v for k, v in redis.hgetall(key).items()}
    moves = {old: new for old in fields if (new := new_name(old, renames)) is not None}
    if not moves:
        return 0
    pipe = redis.pipeline(transaction=True)
    pipe.hset(key, mapping={new: fields[old] for old, new in moves.items()})
    pipe.hdel(key, *moves)
    pipe.execute()
    return len(moves)


def hashes(redis: Redis, pattern: str) -> Iterator[str]:
    for key in redis.scan_iter(match=pattern, count=1000, _type="hash"):
        yield text(key)


def migrate_partition(redis: Redis, keys: PartitionKeys, report: MigrationReport) -> None:
    kinds = (
        (keys.item("*"), ITEM_FIELDS),
        (keys.segment("*"), SEGMENT_FIELDS),
        (keys.batch("*"), BATCH_FIELDS),
    )
    for pattern, renames in kinds:
        for key in hashes(redis, pattern):
            report.hashes += 1
            report.fields += rename_fields(redis, key, renames)
    report.fields += rename_fields(redis, keys.queue_state, QUEUE_STATE_FIELDS)
    old_prefix = f"{keys.prefix}:members:"
    for key in redis.scan_iter(match=old_prefix + "*", count=1000):
        batch_id = text(key).removeprefix(old_prefix)
        redis.rename(key, keys.batch_segments(batch_id))
        report.lists += 1


def migrate(redis: Redis, keys: Keys) -> MigrationReport:
    """Rewrite every partition of the namespace to the current format, then stamp it."""
    report = MigrationReport()
    found = redis.get(keys.data_format)
    if found is not None and text(found) == FORMAT:
        return report
    for tag in redis.hkeys(keys.partitions):
        migrate_partition(redis, keys.partition(text(tag)), report)
    redis.set(keys.data_format, FORMAT)
    log.info("migrated to format %s: %s", FORMAT, report)
    return report
