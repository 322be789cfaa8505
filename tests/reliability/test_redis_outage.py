"""Redis goes away and comes back while unsupervised workers and beats run: every process
rides it out (same pid), exactly one beat ticks afterwards, and every item is delivered."""

from __future__ import annotations

import random
import re
import sys
import time
from pathlib import Path

import pytest
from redis import Redis

from producers import Producer
from producers.settings import Settings
from tests.support.accounting import account_for_every_item
from tests.support.cluster import Cluster
from tests.support.inspect import finished
from tests.support.items import items, receiver
from tests.support.roles import assert_still_running, start_fleet
from tests.support.servers import RedisServer
from tests.support.waiting import wait_for

SENT = re.compile(r"Sending due task")


def sends(log: str) -> int:
    return len(SENT.findall(log))


@pytest.mark.slow
@pytest.mark.parametrize("down_for", [2, 60])
def test_a_redis_outage_ends_no_process_and_loses_nothing(
    down_for: float, tmp_path: Path, worker_env: dict[str, str]
) -> None:
    server = RedisServer(tmp_path / "redis")
    env = {**worker_env, "BATCHRELAY_REDIS_URL": server.url}
    cluster = Cluster(env, tmp_path)  # no supervision: nothing restarts a process that exits
    redis = Redis.from_url(server.url)
    settings = Settings(redis_url=server.url)
    producer = Producer(redis, settings)
    try:
        ops = start_fleet(cluster)
        started = dict(cluster.processes)
        batch = items(2000)
        ids = [i["id"] for i in batch]
        producer.submit_many(batch)
        wait_for(
            lambda: producer.states(ids[:1]).get(ids[0]) not in (None, "queued"),
            60,
            "work started",
        )
        server.kill()
        time.sleep(down_for)
        server.start()
        account_for_every_item(producer, redis, ids, f"redis down {down_for}s", 180)
        assert_still_running(started, cluster)
        assert ops.redis_is_up()
        assert {"w1", "w2"} <= ops.workers()
        before = {name: sends(cluster.log(name)) for name in ("beat1", "beat2")}
        time.sleep(3)
        ticked = [n for n in before if sends(cluster.log(n)) > before[n]]
        assert len(ticked) == 1, f"beats that ticked in 3s after the outage: {ticked}"
    finally:
        cluster.stop()
        redis.close()
        server.stop()


@pytest.mark.slow
def test_batchrelay_up_rides_out_a_redis_restart(
    tmp_path: Path, worker_env: dict[str, str]
) -> None:
    """`batchrelay up` in front of an external Redis: its roles ride the restart out, so it
    has nothing to restart."""
    server = RedisServer(tmp_path / "redis")
    cluster = Cluster({**worker_env, "BATCHRELAY_REDIS_URL": server.url}, tmp_path)
    producer = Producer.from_url(server.url)
    try:
        up = cluster.command("up", [sys.executable, "-m", "worker.cli", "up", "--no-flower"])
        wait_for(lambda: "batchrelay is up" in cluster.log("up"), 60, "batchrelay up")
        batch = items(200)
        ids = [i["id"] for i in batch]
        producer.submit_many(batch)
        time.sleep(1)
        server.kill()
        time.sleep(3)
        server.start()
        wait_for(lambda: finished(producer, ids), 120, "every item after the restart")
        assert up.poll() is None, cluster.log("up")
        assert "exited with code" not in cluster.log("up"), cluster.log("up")
    finally:
        cluster.stop()
        producer.close()
        server.stop()


@pytest.mark.slow
def test_chaos_redis_restarts_under_unsupervised_processes(
    tmp_path: Path, worker_env: dict[str, str]
) -> None:
    """The chaos run with Redis as the victim: 5,000 items, two workers and two beats that
    nothing restarts, and Redis SIGKILLed and started again three times at random moments."""
    rng = random.Random(13)
    server = RedisServer(tmp_path / "redis")
    env = {
        **worker_env,
        "BATCHRELAY_REDIS_URL": server.url,
        "BATCHRELAY_MAX_REQUESTS_PER_BATCH": "800",
    }
    cluster = Cluster(env, tmp_path)
    redis = Redis.from_url(server.url)
    settings = Settings(redis_url=server.url)
    producer = Producer(redis, settings)
    try:
        receiver(cluster)
        for name in ("w1", "w2"):
            cluster.worker(name, concurrency=1)
        cluster.beat("beat1")
        cluster.beat("beat2")
        started = dict(cluster.processes)
        batch = items(5000)
        ids = [i["id"] for i in batch]
        producer.submit_many(batch)
        restarts = 0
        while restarts < 3 and not finished(producer, ids):
            time.sleep(rng.uniform(1.0, 4.0))
            server.kill()
            time.sleep(rng.uniform(0.5, 5.0))
            server.start()
            restarts += 1
        account_for_every_item(producer, redis, ids, f"redis chaos, {restarts} restarts")
        assert restarts >= 2
        assert_still_running(started, cluster)
    finally:
        cluster.stop()
        redis.close()
        server.stop()
