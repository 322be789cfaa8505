"""Partitions: the registry of (endpoint, model) partitions, their counters and meta."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from producers.keys import DEFAULT_PROVIDER
from producers.replies import text, text_hash
from worker.store.part import StorePart


@dataclass(frozen=True)
class Partition:
    """One (provider, endpoint, model) partition, known by its tag."""

    tag: str
    endpoint: str
    model: str
    provider: str = DEFAULT_PROVIDER  # data written before providers existed names none


def partition_of(tag: str, info: bytes | str) -> Partition:
    """A partition from its registry entry."""
    data = orjson.loads(info)
    return Partition(tag, data["endpoint"], data["model"], data.get("provider", DEFAULT_PROVIDER))


class Partitions(StorePart):
    def all(self) -> list[Partition]:
        """Every partition ever used, by tag."""
        raw = self.redis.hgetall(self.keys.partitions)
        out = []
        for tag, info in raw.items():
            out.append(partition_of(text(tag), info))
        return sorted(out, key=lambda p: p.tag)

    def get(self, tag: str) -> Partition:
        raw = self.redis.hget(self.keys.partitions, tag)
        if raw is None:
            raise KeyError(f"unknown partition {tag}")
        return partition_of(tag, raw)

    def meta(self, tag: str) -> dict[str, str]:
        return text_hash(self.redis.hgetall(self.keys_of(tag).meta))

    def add_meta(self, tag: str, name: str, amount: float) -> None:
        self.redis.hincrbyfloat(self.keys_of(tag).meta, name, amount)

    def set_meta(self, tag: str, **fields: Any) -> None:
        self.redis.hset(self.keys_of(tag).meta, mapping={k: str(v) for k, v in fields.items()})

    def back_off(self, tag: str, now: float) -> float:
        """Count a token_limit_exceeded strike and stop packing the partition for a while,
        doubling with each strike (capped); returns the seconds. One HINCRBY, its reply used:
        two collects striking at once count two strikes."""
        keys = self.keys_of(tag)
        strikes = int(self.redis.hincrby(keys.meta, "token_strikes", 1))
        settings = self.settings
        delay = min(settings.token_backoff * 2 ** (strikes - 1), settings.token_backoff_max)
        self.redis.hset(keys.meta, "backoff_until", repr(now + delay))
        return float(delay)

    def counts(self, tag: str) -> dict[str, int]:
        """The partition's counters: items by state, deliveries, tokens."""
        raw = text_hash(self.redis.hgetall(self.keys_of(tag).counts))
        return {name: int(float(value)) for name, value in raw.items()}

    def add_count(self, tag: str, name: str, amount: int) -> None:
        self.redis.hincrby(self.keys_of(tag).counts, name, amount)

    def forget_finished(self, tag: str, now: float) -> None:
        """Drop index entries older than the results: finished batches and dead letters
        whose hashes have expired (or are about to)."""
        keys = self.keys_of(tag)
        horizon = now - self.settings.result_ttl
        pipe = self.redis.pipeline(transaction=False)
        pipe.zremrangebyscore(keys.batches, "-inf", horizon)
        pipe.zremrangebyscore(keys.dead, "-inf", horizon)
        pipe.execute()
