"""Packing against a real Redis, without Celery: every limit holds across claim chunks."""

from __future__ import annotations

from pathlib import Path

import orjson
from redis import Redis

from producers import Producer
from producers.keys import partition_tag
from producers.settings import Settings
from tests.support.items import chat
from worker.lifecycle.packing import CLAIM_CHUNK, pack
from worker.store import Store


def test_embedding_inputs_limit_holds_across_claim_chunks(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    limit = CLAIM_CHUNK * 2 + 2000
    settings = Settings(redis_url=redis_url, max_embedding_inputs=limit)
    producer = Producer(redis, settings)
    count = CLAIM_CHUNK + 3000
    items = [
        {
            "id": f"e{n}",
            "endpoint": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": ["a", "b"]},
        }
        for n in range(count)
    ]
    assert len(producer.submit_many(items).accepted) == count
    store = Store(redis, settings)
    packed = pack(
        store, settings, partition_tag("/v1/embeddings", "text-embedding-3-small"), tmp_path
    )
    assert packed is not None
    lines = packed.path.read_bytes().splitlines()
    inputs = sum(len(orjson.loads(line)["body"]["input"]) for line in lines)
    assert inputs <= limit and packed.count == limit // 2
    assert store.batches.get(packed.batch_id).number("inputs") == inputs
    assert (
        store.queues.depth(partition_tag("/v1/embeddings", "text-embedding-3-small"))
        == count - limit // 2
    )


def chat_items(ids: list[str], size: int = 0) -> list[dict[str, object]]:
    return [chat(i, text="x" * size) for i in ids]


def test_limits_that_split_segments_pack_every_item_once_in_order(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    # Limits that cut through the 1,000-item segments, by count and by bytes.
    ids = [f"i{n:05d}" for n in range(3500)]
    settings = Settings(redis_url=redis_url, max_requests_per_batch=777, max_batch_bytes=300_000)
    producer = Producer(redis, settings)
    assert len(producer.submit_many(chat_items(ids, size=200)).accepted) == len(ids)
    store = Store(redis, settings)
    tag = partition_tag("/v1/chat/completions", "gpt-4o-mini")
    packed_ids: list[str] = []
    while (packed := pack(store, settings, tag, tmp_path)) is not None:
        data = packed.path.read_bytes()
        lines = data.splitlines()
        assert len(lines) == packed.count <= 777 and len(data) == packed.size <= 300_000
        assert [orjson.loads(line)["custom_id"] for line in lines] == store.batches.item_ids(
            packed.batch_id
        )
        packed_ids += store.batches.item_ids(packed.batch_id)
        assert set(producer.states(store.batches.item_ids(packed.batch_id)).values()) == {"packed"}
    assert packed_ids == ids
    assert store.queues.depth(tag) == 0 and store.partitions.counts(tag)["packed"] == len(ids)


def test_a_dead_packers_items_go_back_to_the_front_in_order(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(redis_url=redis_url, max_requests_per_batch=1500)
    producer = Producer(redis, settings)
    ids = [f"i{n:05d}" for n in range(2500)]
    producer.submit_many(chat_items(ids))
    store = Store(redis, settings)
    tag = partition_tag("/v1/chat/completions", "gpt-4o-mini")
    first = pack(store, settings, tag, tmp_path)
    assert first is not None and store.queues.depth(tag) == 1000
    # What housekeeping does for a packer that died before the batch reached OpenAI.
    assert store.batches.transition(first.batch_id, "packed", "abandoned")
    assert store.batches.release_segments(first.batch_id, note="packer died") == 1500
    assert store.batches.item_ids(first.batch_id) == []
    assert set(producer.states(ids).values()) == {"queued"}
    assert store.queues.depth(tag) == 2500 and store.partitions.counts(tag)["packed"] == 0
    again = pack(store, settings, tag, tmp_path)
    assert again is not None and store.batches.item_ids(again.batch_id) == ids[:1500]
    assert producer.status(ids[0]).state == "packed"
    assert producer.status(ids[0]).batch_id == again.batch_id
    # Abandoning the batch set its segments to expire; going back to the queue undid that.
    segments = store.batches.segments(again.batch_id)
    assert segments and {redis.ttl(store.keys_of(tag).segment_lines(s)) for s in segments} == {-1}
