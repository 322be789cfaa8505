"""A script written for the openai SDK, switched to batches by changing the client's
construction only, gets the same typed objects back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from producers import AsyncProducer, Producer
from producers.connection import connect_async
from producers.openai_client import AsyncBatchClient, BatchClient, BatchItemFailed
from producers.settings import Settings
from tests.support.cluster import Cluster


def script(client: Any) -> tuple[ChatCompletion, CreateEmbeddingResponse]:
    """Code as it was written for the openai SDK."""
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Classify: the delivery was late."}],
    )
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    return completion, vectors


def test_the_same_script_gets_the_same_objects_through_batches(
    cluster: Cluster, producer: Producer, emulator: Any
) -> None:
    cluster.worker()
    cluster.beat()
    realtime = script(emulator.client())  # the emulator answers in real time too
    batched = script(BatchClient(producer, timeout=60))
    for now, later in zip(realtime, batched, strict=True):
        assert type(now) is type(later)
    assert realtime[0].choices[0].message.content == batched[0].choices[0].message.content
    # The SDK fetches real-time embeddings as base64 float32: the same vectors, to 1e-6.
    for now_vector, batch_vector in zip(realtime[1].data, batched[1].data, strict=True):
        assert batch_vector.embedding == pytest.approx(now_vector.embedding, abs=1e-6)
    with pytest.raises(BatchItemFailed, match="item client-"):
        BatchClient(producer, timeout=60).chat.completions.create(
            model="text-embedding-3-small", messages=[{"role": "user", "content": "x"}]
        )  # the emulator refuses a chat with an embedding model: the item is dead


def test_the_async_client_awaits_the_same_objects(
    cluster: Cluster, settings: Settings, emulator: Any
) -> None:
    cluster.worker()
    cluster.beat()

    async def run() -> ChatCompletion:
        async with AsyncProducer(connect_async(settings), settings) as producer:
            client = AsyncBatchClient(producer, timeout=60)
            return await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
            )

    completion = asyncio.run(run())
    realtime = emulator.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content == realtime.choices[0].message.content
