"""Redis under Sentinel: the primary is SIGKILLed mid-run and a replica promoted. With
BATCHRELAY_REDIS_MIN_REPLICAS=1 nothing acknowledged is lost and no batch is created twice;
every role follows the new primary without a restart."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from producers import Producer
from producers.connection import connect
from producers.settings import Settings
from tests.support.accounting import account_for_every_item
from tests.support.cluster import Cluster
from tests.support.inspect import states
from tests.support.items import items
from tests.support.roles import assert_still_running, start_fleet
from tests.support.sentinel import SentinelGroup
from tests.support.waiting import wait_for


@pytest.mark.slow
def test_a_primary_killed_mid_run_loses_nothing_and_creates_no_twin(
    tmp_path: Path, worker_env: dict[str, str], emulator: Any
) -> None:
    group = SentinelGroup(tmp_path / "redis")
    env = {
        **worker_env,
        "BATCHRELAY_REDIS_URL": group.url,
        "BATCHRELAY_REDIS_MIN_REPLICAS": "1",
        "BATCHRELAY_MAX_REQUESTS_PER_BATCH": "1000",
    }
    cluster = Cluster(env, tmp_path)
    settings = Settings(redis_url=group.url, redis_min_replicas=1)
    redis = connect(settings)
    producer = Producer(redis, settings)
    try:
        ops = start_fleet(cluster)
        started = dict(cluster.processes)
        batch = items(5000)
        ids = [i["id"] for i in batch]
        assert len(producer.submit_many(batch).accepted) == 5000
        wait_for(lambda: states(producer, ids)["delivered"] >= 500, 120, "work under way")
        failover = group.kill_primary()
        account_for_every_item(producer, redis, ids, f"sentinel failover in {failover:.1f}s", 300)
        created = Counter(
            (b.metadata or {}).get("batchrelay_batch_id")
            for b in emulator.client().batches.list(limit=100)
        )
        assert created and max(created.values()) == 1, f"twin batches: {created}"
        assert ops.redis_is_up()
        assert {"w1", "w2"} <= ops.workers()
        assert_still_running(started, cluster)
    finally:
        cluster.stop()
        redis.close()
        group.stop()
