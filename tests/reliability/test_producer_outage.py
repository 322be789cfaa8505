"""The producer SDK through a Redis restart: submits wait it out and store each id once,
wait() survives it, and a Redis gone for good ends in RedisUnavailable with the URL masked."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from producers import Producer, RedisUnavailable
from tests.support.cluster import Cluster
from tests.support.items import chat, items
from tests.support.servers import RedisServer

pytestmark = pytest.mark.slow  # Redis restarts of several seconds each

# Longer than redis-py's own retries of one command (10 tries, at most about 4 s in all).
DOWN = 6.0


def restart_later(server: RedisServer, after: float) -> threading.Thread:
    def restart() -> None:
        time.sleep(after)
        server.start()

    thread = threading.Thread(target=restart)
    thread.start()
    return thread


def test_submits_wait_out_a_restart_and_store_each_id_once(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", password="s3cret")
    producer = Producer.from_url(server.url)
    try:
        producer.submit(chat("before"))
        server.kill()
        restart = restart_later(server, DOWN)
        started = time.monotonic()
        assert producer.submit(chat("during")) == "during"
        assert time.monotonic() - started >= DOWN - 0.5  # it did wait for the restart
        restart.join()
        server.kill()
        restart = restart_later(server, DOWN)
        report = producer.submit_many(items(3000))
        restart.join()
        assert len(report.accepted) == 3000 and report.ok
        again = producer.submit_many([*items(3000), chat("before"), chat("during")])
        assert len(again.duplicates) == 3002 and not again.accepted
        assert producer.states(["before", "during", "k02999"]) == dict.fromkeys(
            ["before", "during", "k02999"], "queued"
        )
    finally:
        producer.close()
        server.stop()


def test_a_redis_gone_for_good_raises_with_the_password_masked(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", password="s3cret")
    producer = Producer.from_url(server.url, producer_retry_seconds=1.0)
    server.kill()
    started = time.monotonic()
    with pytest.raises(RedisUnavailable) as raised:
        producer.submit(chat("lost"))
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 15, elapsed
    message = str(raised.value)
    assert f"redis://:***@127.0.0.1:{server.port}/0" in message
    assert "s3cret" not in message and "s3cret" not in repr(raised.value.__cause__)
    with pytest.raises(RedisUnavailable):
        producer.status("lost")
    producer.close()


def test_wait_survives_a_restart_during_its_blpop(
    tmp_path: Path, worker_env: dict[str, str]
) -> None:
    server = RedisServer(tmp_path / "redis")
    # The item waits in the queue while Redis restarts under the blocked wait().
    env = {**worker_env, "BATCHRELAY_REDIS_URL": server.url, "BATCHRELAY_FLUSH_AFTER": "10"}
    cluster = Cluster(env, tmp_path)
    producer = Producer.from_url(server.url)
    results: list[dict[str, Any]] = []
    try:
        cluster.worker()
        cluster.beat()
        producer.submit(chat("awaited"))
        waiter = threading.Thread(target=lambda: results.append(producer.wait("awaited", 90)))
        waiter.start()
        time.sleep(1)
        server.kill()
        time.sleep(DOWN)
        server.start()
        waiter.join(100)
        assert results and results[0]["status"] == "succeeded", results
        assert results[0]["id"] == "awaited"
    finally:
        cluster.stop()
        producer.close()
        server.stop()
