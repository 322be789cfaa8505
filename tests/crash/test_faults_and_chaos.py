"""API faults on every route, many workers and beats at once, and random SIGKILLs:
every item still ends delivered or dead-lettered with a reason."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import orjson
from redis import Redis

from producers import Producer
from producers.settings import Settings
from tests.support.accounting import account_for_every_item, ledger
from tests.support.cluster import Cluster
from tests.support.inspect import all_batches, finished, membership
from tests.support.items import items, messages, receiver, wait_callbacks
from tests.support.waiting import wait_for
from worker.store import Store


def test_api_faults_everywhere_lose_nothing(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings, emulator: Any
) -> None:
    emulator.set_faults(
        http_429_rate=0.1,
        http_500_rate=0.08,
        http_500_after_rate=0.02,
        retry_after_seconds=0.2,
        line_500_rate=0.03,
        line_429_rate=0.03,
        line_400_rate=0.01,
        fault="token_limit_exceeded",
        fault_rate=1.0,  # until a batch has failed: a 20% draw over a few batches may miss
        expire_fraction=0.5,
    )
    receiver(cluster)
    cluster.worker(
        extra_env={"BATCHRELAY_MAX_REQUESTS_PER_BATCH": "1000", "BATCHRELAY_MAX_ATTEMPTS": "4"}
    )
    batch = items(5000)
    producer.submit_many(batch)
    cluster.beat()
    store = Store(redis, settings)
    wait_for(
        lambda: any(b.get("provider_status") == "failed" for b in all_batches(store)),
        120,
        "a failure",
    )
    emulator.set_faults(fault_rate=0.2)
    wait_for(
        lambda: any(b.get("provider_status") == "expired" for b in all_batches(store)),
        120,
        "an expiry",
    )
    emulator.set_faults(expire_fraction=None)
    ids = [i["id"] for i in batch]
    wait_for(lambda: finished(producer, ids), 300, "every item delivered or dead")
    wait_callbacks(redis, len(ids))
    result = ledger(producer, store, redis, ids, retries_expected=True)
    statuses = {b.get("provider_status") for b in all_batches(store)}
    codes = {producer.status(i).code for i in ids if producer.status(i).outcome == "dead"}
    print(
        f"\nfaults: {result.line()}, batch statuses={sorted(s for s in statuses if s)}, "
        f"dead codes={codes}"
    )
    result.assert_nothing_lost()
    assert {"expired", "failed", "completed"} <= statuses
    remote = emulator.client(max_retries=8).batches.list(limit=100)
    live_ids = [
        b.metadata["batchrelay_batch_id"]
        for b in remote
        if b.metadata and b.status != "cancelled" and "batchrelay_batch_id" in b.metadata
    ]
    assert len(live_ids) == len(set(live_ids)), "a batch was created twice and not cancelled"


QUICK_LISTING = {
    "providers": {
        "openai": {"kind": "openai"},
        "anthropic": {"kind": "anthropic", "listing_lag": 2},
    },
    "routes": [
        {"endpoints": ["/v1/messages"], "models": ["claude-*"], "providers": ["anthropic"]},
        {"models": ["*"], "providers": ["openai"]},
    ],
}


def test_api_faults_everywhere_lose_nothing_at_anthropic(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings, emulator: Any
) -> None:
    """The same faults on the Anthropic side, 529 overloaded included; creates answered with a
    500 after the batch was made are reconciled without metadata, never twinned."""
    emulator.set_faults(
        http_429_rate=0.1,
        http_500_rate=0.05,
        http_529_rate=0.05,
        http_500_after_rate=0.05,
        retry_after_seconds=0.2,
        line_500_rate=0.03,
        line_429_rate=0.03,
        line_error_rate=0.02,
        line_400_rate=0.01,
        expire_fraction=0.5,
    )
    receiver(cluster)
    cluster.worker(
        extra_env={
            "BATCHRELAY_MAX_REQUESTS_PER_BATCH": "1000",
            "BATCHRELAY_MAX_ATTEMPTS": "4",
            "BATCHRELAY_KEEP_FILES": "1",  # keep every batch at Anthropic, to count them
            # The emulator lists a batch as soon as it exists: no need to wait 300 s.
            "BATCHRELAY_PROVIDERS": orjson.dumps(QUICK_LISTING).decode(),
        }
    )
    batch = messages(3000)
    ids = [i["id"] for i in batch]
    producer.submit_many(batch)
    cluster.beat()
    store = Store(redis, settings)

    def expired_once() -> bool:
        # Anthropic has no expired batch: the batch ends, its unfinished requests `expired`.
        return any("batch_expired" in producer.status(i).history for i in ids[::30])

    wait_for(expired_once, 120, "requests expired")
    emulator.set_faults(expire_fraction=None)
    wait_for(lambda: finished(producer, ids), 300, "every item delivered or dead")
    wait_callbacks(redis, len(ids))
    result = ledger(producer, store, redis, ids, retries_expected=True)
    ours = [b.provider_id for b in all_batches(store) if b.provider_id]
    codes = {producer.status(i).code for i in ids if producer.status(i).outcome == "dead"}
    print(f"\nanthropic faults: {result.line()}, batches={len(ours)}, dead codes={codes}")
    result.assert_nothing_lost()
    emulator.set_faults(http_429_rate=0.0, http_500_rate=0.0, http_529_rate=0.0)
    remote = list(emulator.anthropic_client().messages.batches.list(limit=100))
    assert sorted(b.id for b in remote) == sorted(ours), "a batch at Anthropic that is not ours"


def test_three_workers_and_two_beats_never_double_pack_or_poll(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings
) -> None:
    env = {"BATCHRELAY_MAX_REQUESTS_PER_BATCH": "400"}
    for n in (1, 2, 3):
        cluster.worker(f"w{n}", concurrency=1, extra_env=env)
    batch = items(3000)
    producer.submit_many(batch)
    cluster.beat("beat1")
    cluster.beat("beat2")
    ids = [i["id"] for i in batch]
    wait_for(lambda: finished(producer, ids), 180, "every item delivered")
    store = Store(redis, settings)
    packed = membership(store)
    assert len(packed) == 3000 and set(packed.values()) == {1}
    polls = sorted(
        (orjson.loads(p) for p in redis.lrange(store.keys.polls, 0, -1)), key=lambda p: p["start"]
    )
    overlaps = sum(1 for a, b in itertools.pairwise(polls) if b["start"] < a["end"])
    workers_that_packed = {
        name for name in ("w1", "w2", "w3") if "batchrelay.pack" in cluster.log(name)
    }
    print(
        f"\n3 workers/2 beats: polls={len(polls)}, overlapping polls={overlaps}, "
        f"packers={workers_that_packed}"
    )
    assert overlaps == 0
    assert workers_that_packed


def test_chaos_random_worker_kills(cluster: Cluster, producer: Producer, redis: Redis) -> None:
    rng = random.Random(7)
    env = {"BATCHRELAY_MAX_REQUESTS_PER_BATCH": "800"}
    receiver(cluster)
    for n in (1, 2):
        cluster.worker(f"w{n}", concurrency=1, extra_env=env)
    cluster.supervise()
    batch = items(5000)
    producer.submit_many(batch)
    cluster.beat()
    ids = [i["id"] for i in batch]
    kills = 0
    deadline = time.monotonic() + 60
    while kills < 6 and time.monotonic() < deadline and not finished(producer, ids):
        time.sleep(rng.uniform(2.0, 6.0))
        victim = rng.choice(["w1", "w2"])
        cluster.signal(victim)
        kills += 1
    label = f"chaos: kills={kills}, restarts={cluster.restarts}"
    account_for_every_item(producer, redis, ids, label)
    assert kills >= 3
    assert cluster.restarts >= 3  # the kills hit live workers, which came back
