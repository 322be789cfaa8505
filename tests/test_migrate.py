"""Data written by batchrelay 0.1 (format 1) is refused until `batchrelay migrate` rewrites
it; then the worker delivers the items it had queued."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from producers import Producer
from producers.data_format import FORMAT, OldDataFormat
from producers.keys import Keys, partition_tag
from producers.models import prepare
from producers.settings import Settings
from tests.support.cli import cli
from tests.support.cluster import Cluster
from tests.support.inspect import finished
from tests.support.items import chat
from tests.support.waiting import wait_for

FIXTURES = Path(__file__).parent / "fixtures" / "format1"


def submit_as_release_0_1(redis: Redis, items: list[dict[str, Any]]) -> None:
    """Store items the way batchrelay 0.1 did: its own submit script, its field names."""
    keys = Keys()
    prepared = [prepare(item, None, 10**6) for item in items]
    tag = partition_tag(prepared[0].endpoint, prepared[0].model)
    partition = keys.partition(tag)
    info = b'{"endpoint": "%s", "model": "%s"}' % (
        prepared[0].endpoint.encode(),
        prepared[0].model.encode(),
    )
    redis.hset(keys.partitions, tag, info)
    script = (FIXTURES / "segments.lua").read_text() + (FIXTURES / "submit.lua").read_text()
    script_keys = [partition.queue, partition.queue_state, partition.delayed, partition.counts]
    records = b"\n".join(p.record for p in prepared)
    args: list[str | bytes | int] = [
        repr(time.time()),
        1000,
        partition.item_prefix,
        partition.segment_prefix,
        records,
        1,
    ]
    assert redis.eval(script, len(script_keys), *script_keys, *args) == [1] * len(items)


def test_old_data_is_refused_then_migrated_and_delivered(
    redis: Redis, settings: Settings, cluster: Cluster, worker_env: dict[str, str]
) -> None:
    ids = [f"old{n}" for n in range(20)]
    submit_as_release_0_1(redis, [chat(i) for i in ids])
    old = Keys().partition(partition_tag("/v1/chat/completions", "gpt-4o-mini"))
    assert redis.hget(old.item("old0"), "st") == b"queued"  # 0.1's field names
    with pytest.raises(OldDataFormat, match="batchrelay migrate"):
        Producer(redis, settings).submit(chat("new"))
    migrated = cli(worker_env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    # Each item's state, segment and queued_at; its segment's items and opened_at; the queue
    # state's length and last segment.
    assert "64 fields renamed in 21 hashes" in migrated.stdout, migrated.stdout
    assert redis.get(Keys().data_format) == FORMAT.encode()
    producer = Producer(redis, settings)
    assert producer.status("old3").state == "queued"
    producer.submit(chat("new"))
    cluster.worker()
    cluster.beat()
    wait_for(lambda: finished(producer, [*ids, "new"]), 60, "old and new items delivered")
    assert "0 fields renamed" in cli(worker_env, "migrate").stdout  # a second run: nothing to do
