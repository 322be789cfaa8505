"""One read of everything the exporter reports, from Redis, in a few pipelined round trips.

Nothing is kept between scrapes: every number comes from Redis at read time, so any number of
workers (and exporters) can run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from producers.keys import REQUEST_SECONDS_SUFFIX
from producers.replies import text
from worker.metrics.cost import cost_by_model, cost_by_tenant
from worker.store import Store


@dataclass(frozen=True)
class PartitionStats:
    """The partitions of one (provider, endpoint, model, tenant), their groups summed."""

    provider: str
    endpoint: str
    model: str
    tenant: str
    counts: dict[str, int]
    queued: int
    delayed: int
    oldest_age: float
    dead_letters: int
    undelivered: int
    batches_created: int
    backoff_seconds: float
    tokens_in_flight: float
    file_cleanups: int


@dataclass(frozen=True)
class BatchStats:
    """One batch in flight: its provider's status (in OpenAI's words) while live, else our own
    state."""

    provider: str
    status: str
    expires_in: float | None = None
    stuck: bool = False


@dataclass(frozen=True)
class RequestStats:
    """The gateway's requests of one method, route and status, over all replicas."""

    method: str
    route: str
    status: str
    count: int
    seconds: float


@dataclass
class Snapshot:
    partitions: list[PartitionStats] = field(default_factory=list)
    batches: list[BatchStats] = field(default_factory=list)
    costs: dict[str, dict[str, float]] = field(default_factory=dict)
    tenant_costs: dict[str, dict[str, float]] = field(default_factory=dict)
    gateway_requests: list[RequestStats] = field(default_factory=list)


def _text(raw: Any) -> str:
    return "" if raw is None else text(raw)


def _number(raw: Any) -> float:
    try:
        return float(_text(raw) or 0)
    except ValueError:
        return 0.0


def read_snapshot(store: Store, now: float | None = None) -> Snapshot:
    """Read every partition's queues and counters and every in-flight batch."""
    now = time.time() if now is None else now
    partitions = store.partitions.all()
    pipe = store.redis.pipeline(transaction=False)
    for p in partitions:
        keys = store.keys_of(p.tag)
        pipe.hgetall(keys.counts)
        pipe.hget(keys.queue_state, "length")
        pipe.zcard(keys.delayed)
        pipe.lindex(keys.queue, 0)
        pipe.zcard(keys.dead)
        pipe.zcard(keys.batches)
        pipe.hmget(store.keys.budget(p.provider, p.model), ["backoff_until", "tokens_in_flight"])
        pipe.smembers(keys.live)
        pipe.zrange(keys.leases, 0, -1)
        pipe.zcard(keys.file_cleanup)
    first = pipe.execute()
    rows = [first[n : n + 10] for n in range(0, len(first), 10)]

    live = [sorted(_text(b) for b in row[7]) for row in rows]
    leased = [
        sorted({_text(b) for b in row[8]} - set(ids)) for row, ids in zip(rows, live, strict=True)
    ]
    pipe = store.redis.pipeline(transaction=False)
    for p, row, live_ids, leased_ids in zip(partitions, rows, live, leased, strict=True):
        keys = store.keys_of(p.tag)
        if row[3]:
            pipe.hget(keys.segment(_text(row[3])), "opened_at")
        else:
            pipe.echo("")
        for batch_id in live_ids:
            pipe.hmget(keys.batch(batch_id), ["provider_status", "expires_at", "stuck"])
        for batch_id in leased_ids:
            pipe.hget(keys.batch(batch_id), "state")
    second = iter(pipe.execute())

    stats: list[PartitionStats] = []
    batches: list[BatchStats] = []
    for p, row, live_ids, leased_ids in zip(partitions, rows, live, leased, strict=True):
        stamp = _number(next(second))
        backoff_until, in_flight = row[6]
        counts = {_text(k): int(_number(v)) for k, v in row[0].items()}
        stats.append(
            PartitionStats(
                provider=p.provider,
                endpoint=p.endpoint,
                model=p.model,
                tenant=p.tenant,
                counts=counts,
                queued=int(row[1] or 0),
                delayed=int(row[2]),
                oldest_age=max(0.0, now - stamp) if stamp else 0.0,
                dead_letters=int(row[4]),
                # finished items count as succeeded or dead until they are delivered
                undelivered=counts.get("succeeded", 0) + counts.get("dead", 0),
                batches_created=int(row[5]),
                backoff_seconds=max(0.0, _number(backoff_until) - now),
                tokens_in_flight=_number(in_flight),
                file_cleanups=int(row[9]),
            )
        )
        for _ in live_ids:
            status, expires_at, stuck = next(second)
            expires = _number(expires_at)
            batches.append(
                BatchStats(
                    provider=p.provider,
                    status=_text(status) or "submitted",
                    expires_in=expires - now if expires else None,
                    # `stuck` names the slow status; it only counts while the batch is still in it.
                    stuck=bool(stuck) and _text(stuck) == _text(status),
                )
            )
        batches.extend(
            BatchStats(provider=p.provider, status=_text(next(second)) or "unknown")
            for _ in leased_ids
        )
    return Snapshot(
        merged(stats),
        batches,
        cost_by_model(store),
        cost_by_tenant(store),
        gateway_requests(store),
    )


def gateway_requests(store: Store) -> list[RequestStats]:
    """The gateway's request counters (gateway/metrics.py), one entry per method, route and
    status."""
    raw = store.redis.hgetall(store.keys.gateway_requests)
    counters = {_text(k): _number(v) for k, v in raw.items()}
    found = []
    for name, count in sorted(counters.items()):
        parts = name.split(" ")
        if name.endswith(REQUEST_SECONDS_SUFFIX) or len(parts) < 3:
            continue
        seconds = counters.get(name + REQUEST_SECONDS_SUFFIX, 0.0)
        method, route, status = parts[0], " ".join(parts[1:-1]), parts[-1]
        found.append(RequestStats(method, route, status, int(count), seconds))
    return found


def merged(stats: list[PartitionStats]) -> list[PartitionStats]:
    """One entry per label set: a tenant's or a gateway batch's partitions (groups) of the
    same provider, endpoint and model are summed, so metrics do not grow with groups."""
    out: dict[tuple[str, str, str, str], PartitionStats] = {}
    for s in stats:
        label = (s.provider, s.endpoint, s.model, s.tenant)
        seen = out.get(label)
        if seen is None:
            out[label] = s
            continue
        counts = dict(seen.counts)
        for name, value in s.counts.items():
            counts[name] = counts.get(name, 0) + value
        out[label] = replace(
            seen,
            counts=counts,
            queued=seen.queued + s.queued,
            delayed=seen.delayed + s.delayed,
            oldest_age=max(seen.oldest_age, s.oldest_age),
            dead_letters=seen.dead_letters + s.dead_letters,
            undelivered=seen.undelivered + s.undelivered,
            batches_created=seen.batches_created + s.batches_created,
            # The budget and its backoff belong to the model at the provider: one value.
            backoff_seconds=max(seen.backoff_seconds, s.backoff_seconds),
            tokens_in_flight=max(seen.tokens_in_flight, s.tokens_in_flight),
            file_cleanups=seen.file_cleanups + s.file_cleanups,
        )
    return list(out.values())
