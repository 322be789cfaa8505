"""SIGKILL a worker at chosen steps, a beat, and Redis itself; nothing may be lost."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from producers import Producer
from producers.settings import Settings
from tests.support.accounting import ledger
from tests.support.cluster import Cluster
from tests.support.inspect import finished
from tests.support.items import items, messages, receiver, wait_callbacks
from tests.support.waiting import wait_for
from worker.services import start_redis
from worker.store import Store


@pytest.mark.parametrize(
    ("point", "count", "api"),
    [
        ("pack.mid", 300, "openai"),
        ("submit.after_upload", 300, "openai"),
        ("submit.after_create", 300, "openai"),
        ("collect.mid", 2_500, "openai"),
        ("deliver.mid", 300, "openai"),
        # Message Batches carry no metadata: the batch created before the kill is found again
        # by its size and time, adopted, and not created a second time.
        ("submit.after_upload", 300, "anthropic"),
        ("submit.after_create", 300, "anthropic"),
    ],
)
def test_sigkill_worker_at_each_step(
    point: str,
    count: int,
    api: str,
    cluster: Cluster,
    producer: Producer,
    redis: Redis,
    settings: Settings,
    tmp_path: Path,
    emulator: Any,
) -> None:
    marker = tmp_path / "failpoint.fired"
    receiver(cluster)
    victim = cluster.worker("victim", extra_env={"BATCHRELAY_FAILPOINT": f"{point}:{marker}"})
    batch = messages(count) if api == "anthropic" else items(count)
    producer.submit_many(batch)
    cluster.beat()
    wait_for(
        lambda: marker.exists() and victim.poll() is not None, 90, f"the worker killed at {point}"
    )
    assert victim.returncode == -signal.SIGKILL
    cluster.worker("rescuer")
    ids = [i["id"] for i in batch]
    wait_for(lambda: finished(producer, ids), 180, "every item delivered after the kill")
    wait_callbacks(redis, count)
    result = ledger(producer, Store(redis, settings), redis, ids)
    print(f"\n{api} {point}: {result.line()}")
    result.assert_nothing_lost()
    assert result.succeeded == count
    if api == "anthropic":
        remote = list(emulator.anthropic_client().messages.batches.list(limit=100))
        assert len(remote) == 1, [b.id for b in remote]  # one batch of 300, created once
    elif point == "submit.after_create":
        remote = [b for b in emulator.client().batches.list(limit=100)]
        ours = [b.metadata.get("batchrelay_batch_id") for b in remote if b.metadata]
        assert len(ours) == len(set(ours)), "a batch was created twice"


def test_sigkill_housekeeping_between_abandoning_and_releasing(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    """The packer dies mid-pack; the worker that abandons its batch dies before returning
    the items to the queue; a third worker must still return them."""
    packed, abandoned = tmp_path / "pack.fired", tmp_path / "release.fired"
    receiver(cluster)
    packer = cluster.worker("packer", extra_env={"BATCHRELAY_FAILPOINT": f"pack.mid:{packed}"})
    batch = items(300)
    producer.submit_many(batch)
    cluster.beat()
    wait_for(lambda: packed.exists() and packer.poll() is not None, 90, "the packer killed")
    keeper = cluster.worker(
        "keeper", extra_env={"BATCHRELAY_FAILPOINT": f"housekeeping.release:{abandoned}"}
    )
    wait_for(lambda: abandoned.exists() and keeper.poll() is not None, 90, "the keeper killed")
    cluster.worker("rescuer")
    ids = [i["id"] for i in batch]
    wait_for(lambda: finished(producer, ids), 180, "every item delivered after both kills")
    wait_callbacks(redis, len(ids))
    result = ledger(producer, Store(redis, settings), redis, ids)
    print(f"\nhousekeeping.release: {result.line()}")
    result.assert_nothing_lost()
    assert result.succeeded == len(ids)


def test_sigkill_the_active_beat_the_standby_takes_over(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings
) -> None:
    cluster.worker()
    cluster.beat("beat1")
    wait_for(lambda: redis.exists("br:redbeat::lock"), 30, "beat1 holds the lock")
    cluster.beat("beat2")
    first = items(50, "a")
    producer.submit_many(first)
    wait_for(lambda: finished(producer, [i["id"] for i in first]), 60, "first items delivered")
    cluster.kill("beat1")
    second = items(50, "b")
    producer.submit_many(second)
    wait_for(lambda: finished(producer, [i["id"] for i in second]), 90, "beat2 took over")
    assert "beat: Acquired lock" in cluster.log("beat2")
    result = ledger(producer, Store(redis, settings), redis, [i["id"] for i in first + second])
    print(f"\nbeat kill: {result.line()}")
    result.assert_nothing_lost()


def test_redis_restart_with_aof_loses_nothing(tmp_path: Path, worker_env: dict[str, str]) -> None:
    directory = tmp_path / "redis"
    server, url = start_redis(directory, fsync="always")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    env = {**worker_env, "BATCHRELAY_REDIS_URL": url}
    cluster = Cluster(env, tmp_path)
    redis = Redis.from_url(url)
    settings = Settings(redis_url=url)
    producer = Producer(redis, settings)
    try:
        receiver(cluster)
        cluster.worker()
        cluster.supervise()
        batch = items(2000)
        producer.submit_many(batch)
        cluster.beat()
        ids = [i["id"] for i in batch]
        wait_for(
            lambda: producer.states(ids[:1]).get(ids[0]) not in (None, "queued"), 60, "work started"
        )
        server.send_signal(signal.SIGKILL)
        server.wait()
        server, _ = start_redis(directory, port, fsync="always")
        wait_for(lambda: finished(producer, ids), 180, "every item delivered after the restart")
        wait_callbacks(redis, len(ids))
        result = ledger(producer, Store(redis, settings), redis, ids)
        print(f"\nredis restart: {result.line()}, worker restarts={cluster.restarts}")
        result.assert_nothing_lost()
    finally:
        cluster.stop()
        redis.close()
        server.terminate()
        server.wait()
