"""A drop-in for code that calls the openai SDK's ``chat.completions.create`` and
``embeddings.create`` from many places and can wait for the batch discount.

    client = BatchClient(Producer.from_url())   # was: client = OpenAI()
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    completion.choices[0].message.content       # an openai ChatCompletion, as before

Each call becomes a work item and returns the openai SDK's own response object once its
batch is done. **That takes minutes to hours** (up to the batch's 24-hour window), not
seconds: the call blocks (or, with AsyncBatchClient, awaits) that long. ``timeout=`` bounds
the wait (default 24 hours, then WaitTimeout); the item stays queued and its result can still
be read by id. An item that failed raises BatchItemFailed with the API's code and message.
Needs the openai package (the 'openai' extra) for its response types.
"""

from __future__ import annotations

import uuid
from typing import Any

from producers.extras import require

require("openai", "producers.openai_client")

from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from producers.async_producer import AsyncProducer
from producers.errors import BatchrelayError
from producers.models import Endpoint
from producers.producer import Producer

DAY = 86_400.0
# The openai SDK's per-request options: meaningless for a batch line, so not sent.
REQUEST_OPTIONS = ("extra_headers", "extra_query", "extra_body")


class BatchItemFailed(BatchrelayError):
    """The batch could not answer the call: the item was dead-lettered."""

    def __init__(self, item_id: str, error: dict[str, Any]) -> None:
        self.item_id = item_id
        self.code = str(error.get("code") or "failed")
        super().__init__(f"item {item_id}: {self.code}: {error.get('message', '')}")


def _request(params: dict[str, Any], default_timeout: float) -> tuple[dict[str, Any], float]:
    """The body of the batch line and the wait's timeout, from a create() call's arguments."""
    body = {k: v for k, v in params.items() if k not in (*REQUEST_OPTIONS, "timeout")}
    body.update(params.get("extra_body") or {})
    timeout = params.get("timeout")
    return body, float(timeout) if isinstance(timeout, int | float) else default_timeout


def _answer(item_id: str, result: dict[str, Any]) -> dict[str, Any]:
    if result.get("status") != "succeeded":
        raise BatchItemFailed(item_id, result.get("error") or {})
    body: dict[str, Any] = result["response"]["body"]
    return body


class BatchClient:
    """``client.chat.completions.create`` and ``client.embeddings.create``, through batches."""

    def __init__(self, producer: Producer, *, timeout: float = DAY) -> None:
        self.producer = producer
        self.timeout = timeout
        self.chat = _Chat(self)
        self.embeddings = _Embeddings(self)

    def call(self, endpoint: Endpoint, params: dict[str, Any]) -> dict[str, Any]:
        body, timeout = _request(params, self.timeout)
        item_id = f"client-{uuid.uuid4().hex}"
        self.producer.submit({"id": item_id, "endpoint": endpoint, "body": body})
        return _answer(item_id, self.producer.wait(item_id, timeout=timeout))


class _Chat:
    def __init__(self, client: BatchClient) -> None:
        self.completions = _Completions(client)


class _Completions:
    def __init__(self, client: BatchClient) -> None:
        self.client = client

    def create(self, **params: Any) -> ChatCompletion:
        body = self.client.call(Endpoint.CHAT_COMPLETIONS, params)
        return ChatCompletion.model_validate(body)


class _Embeddings:
    def __init__(self, client: BatchClient) -> None:
        self.client = client

    def create(self, **params: Any) -> CreateEmbeddingResponse:
        body = self.client.call(Endpoint.EMBEDDINGS, params)
        return CreateEmbeddingResponse.model_validate(body)


class AsyncBatchClient:
    """BatchClient for asyncio code: ``await client.chat.completions.create(...)``."""

    def __init__(self, producer: AsyncProducer, *, timeout: float = DAY) -> None:
        self.producer = producer
        self.timeout = timeout
        self.chat = _AsyncChat(self)
        self.embeddings = _AsyncEmbeddings(self)

    async def call(self, endpoint: Endpoint, params: dict[str, Any]) -> dict[str, Any]:
        body, timeout = _request(params, self.timeout)
        item_id = f"client-{uuid.uuid4().hex}"
        await self.producer.submit({"id": item_id, "endpoint": endpoint, "body": body})
        return _answer(item_id, await self.producer.wait(item_id, timeout=timeout))


class _AsyncChat:
    def __init__(self, client: AsyncBatchClient) -> None:
        self.completions = _AsyncCompletions(client)


class _AsyncCompletions:
    def __init__(self, client: AsyncBatchClient) -> None:
        self.client = client

    async def create(self, **params: Any) -> ChatCompletion:
        body = await self.client.call(Endpoint.CHAT_COMPLETIONS, params)
        return ChatCompletion.model_validate(body)


class _AsyncEmbeddings:
    def __init__(self, client: AsyncBatchClient) -> None:
        self.client = client

    async def create(self, **params: Any) -> CreateEmbeddingResponse:
        body = await self.client.call(Endpoint.EMBEDDINGS, params)
        return CreateEmbeddingResponse.model_validate(body)
