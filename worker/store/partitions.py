"""Partitions: the registry of (endpoint, model) partitions, their counters and meta."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from producers.keys import DEFAULT_PROVIDER
from producers.replies import text, text_hash
from worker.store.part import StorePart


@dataclass(frozen=True)
class Partition:
    """One (provider, endpoint, model, tenant, group) partition, known by its tag."""

    tag: str
    endpoint: str
    model: str
    provider: str = DEFAULT_PROVIDER  # data written before providers existed names none
    tenant: str = ""
    group: str = ""


def partition_of(tag: str, info: bytes | str) -> Partition:
    """A partition from its registry entry."""
    data = orjson.loads(info)
    return Partition(
        tag,
        data["endpoint"],
        data["model"],
        data.get("provider", DEFAULT_PROVIDER),
        data.get("tenant", ""),
        data.get("group", ""),
    )


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

    def budget(self, partition: Partition) -> dict[str, str]:
        """The budget of the partition's model at its provider (keys.budget)."""
        return text_hash(self.redis.hgetall(self._budget_key(partition)))

    def add_in_flight(self, partition: Partition, tokens: float) -> None:
        """Count a batch's estimated tokens in (or, negative, out of) flight. Never below 0: a
        batch created before budgets were kept per model (in its partition's meta) takes out
        what it never put in; the excess is added back, concurrent counts untouched."""
        key = self._budget_key(partition)
        now_in_flight = float(self.redis.hincrbyfloat(key, "tokens_in_flight", tokens))
        if now_in_flight < 0:
            self.redis.hincrbyfloat(key, "tokens_in_flight", -now_in_flight)

    def back_off(self, partition: Partition, now: float) -> float:
        """Count a token_limit_exceeded strike and stop packing the model at its provider for
        a while, doubling with each strike (capped); returns the seconds. One HINCRBY, its
        reply used: two collects striking at once count two strikes."""
        key = self._budget_key(partition)
        strikes = int(self.redis.hincrby(key, "token_strikes", 1))
        settings = self.settings
        delay = min(settings.token_backoff * 2 ** (strikes - 1), settings.token_backoff_max)
        self.redis.hset(key, "backoff_until", repr(now + delay))
        return float(delay)

    def clear_strikes(self, partition: Partition) -> None:
        self.redis.hset(self._budget_key(partition), "token_strikes", 0)

    def _budget_key(self, partition: Partition) -> str:
        return self.keys.budget(partition.provider, partition.model)

    def counts(self, tag: str) -> dict[str, int]:
        """The partition's counters: items by state, deliveries, tokens."""
        raw = text_hash(self.redis.hgetall(self.keys_of(tag).counts))
        return {name: int(float(value)) for name, value in raw.items()}

    def add_count(self, tag: str, name: str, amount: int) -> None:
        self.redis.hincrby(self.keys_of(tag).counts, name, amount)

    def retire(self, partition: Partition) -> bool:
        """Forget a group's partition (a gateway batch's) once all it held is delivered and
        forgotten: its batches and dead letters gone from the indexes (a result TTL after
        they finished), nothing queued. Keeps the registry, which every tick walks, from
        growing with every group ever made. Returns whether it was retired."""
        if not partition.group:
            return False
        keys = self.keys_of(partition.tag)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.counts)
        # A gateway batch still open counts its progress from these counters (its withdrawn
        # items are in no index): the partition lives at least as long as the batch.
        pipe.zscore(self.keys.gateway_open, partition.group)
        for index in (keys.batches, keys.dead, keys.delayed, keys.queue, keys.leases):
            pipe.exists(index)
        counts, open_batch, *indexes = pipe.execute()
        pending = ("queued", "packed", "submitted", "succeeded", "failed", "dead")
        states = {text(k): int(float(v)) for k, v in counts.items()}
        if open_batch is not None or any(indexes):
            return False
        if not states.get("delivered") or any(states.get(s) for s in pending):
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.keys.partitions, partition.tag)
        pipe.delete(keys.counts, keys.queue_state, keys.live, keys.undelivered, keys.file_cleanup)
        pipe.execute()
        return True

    def forget_finished(self, tag: str, now: float) -> None:
        """Drop index entries older than the results: finished batches and dead letters
        whose hashes have expired (or are about to)."""
        keys = self.keys_of(tag)
        horizon = now - self.settings.result_ttl
        pipe = self.redis.pipeline(transaction=False)
        pipe.zremrangebyscore(keys.batches, "-inf", horizon)
        pipe.zremrangebyscore(keys.dead, "-inf", horizon)
        pipe.execute()
