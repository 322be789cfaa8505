"""Packing against a real Redis, without Celery: every limit holds across claim chunks."""

from __future__ import annotations

from pathlib import Path

import orjson
from redis import Redis

from producers import Producer
from producers.keys import partition_tag
from producers.settings import Settings
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
    assert store.batch(packed.batch_id).number("inputs") == inputs
    assert (
        store.queue_depth(partition_tag("/v1/embeddings", "text-embedding-3-small"))
        == count - limit // 2
    )
