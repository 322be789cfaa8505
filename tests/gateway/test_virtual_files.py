"""Virtual files, for the batches the gateway serves: a record without chunks, its content
streamed from ``app.state.virtual_files``; and the FileStore calls the batches code makes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from redis import Redis
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.errors import GatewayError
from gateway.filestore import FileRecord, FileStore, new_file_id
from producers.connection import connect_async
from producers.keys import Keys
from producers.settings import Settings
from tests.gateway.conftest import ACME_KEY, GLOBEX_KEY, TENANT_KEYS, gateway_keys


class NumberedLines:
    """A VirtualContent: ``lines`` (an extra field) numbered lines, a few per piece."""

    def __init__(self) -> None:
        self.served: list[str] = []

    async def content(self, record: FileRecord) -> AsyncIterator[bytes]:
        self.served.append(record.id)
        for start in range(0, int(record.extra["lines"]), 3):
            yield b"".join(b'{"n": %d}\n' % n for n in range(start, start + 3))


def store_call(settings: Settings, call: str, *args: object) -> Any:
    """Run one FileStore method, as the batches code would, on a Redis client of its own."""

    async def run() -> Any:
        redis = connect_async(settings)
        try:
            return await getattr(FileStore(redis, Keys(settings.namespace)), call)(*args)
        finally:
            await redis.aclose()

    return asyncio.run(run())


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(redis_url=redis_url, gateway_keys=json.dumps(TENANT_KEYS))


@pytest.fixture
def in_process(settings: Settings) -> Iterator[tuple[TestClient, NumberedLines]]:
    app = create_app(settings)
    outputs = NumberedLines()
    app.state.virtual_files = outputs
    with TestClient(app, base_url="http://gateway") as http:
        yield http, outputs


def sdk(http: TestClient, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url="http://gateway/v1", http_client=http, max_retries=0)


def test_a_virtual_files_content_comes_from_the_hook(
    settings: Settings, in_process: tuple[TestClient, NumberedLines], redis: Redis
) -> None:
    http, outputs = in_process
    file_id = new_file_id()
    record: FileRecord = store_call(
        settings,
        "create_virtual",
        "acme",
        file_id,
        "out.jsonl",
        "batch_output",
        90,
        {"lines": "10", "batch_id": "batch_1"},
    )
    client = sdk(http, ACME_KEY)

    assert client.files.retrieve(file_id).to_dict() == record.to_json()
    assert [f.id for f in client.files.list()] == [file_id]
    assert [f.id for f in client.files.list(purpose="batch_output")] == [file_id]
    assert client.files.list(purpose="batch").data == []
    lines = client.files.content(file_id).text.splitlines()
    assert [json.loads(line)["n"] for line in lines] == list(range(12))
    assert outputs.served == [file_id]
    assert redis.hget(f"br:gw:file:{file_id}", "batch_id") == b"batch_1"
    with pytest.raises(openai.NotFoundError):
        sdk(http, GLOBEX_KEY).files.content(file_id)
    assert client.files.delete(file_id).deleted
    assert gateway_keys(redis) == []


def test_a_virtual_file_of_no_batch_is_a_500_in_the_envelope(settings: Settings) -> None:
    file_id = new_file_id()
    store_call(settings, "create_virtual", "acme", file_id, "out.jsonl", "batch_output", 1)
    with TestClient(create_app(settings), base_url="http://gateway") as http:
        response = http.get(
            f"/v1/files/{file_id}/content", headers={"Authorization": f"Bearer {ACME_KEY}"}
        )
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


def test_get_raises_the_same_404_for_missing_and_foreign_files(settings: Settings) -> None:
    file_id = new_file_id()
    store_call(settings, "create_virtual", "acme", file_id, "out.jsonl", "batch_output", 1)
    assert store_call(settings, "get", "acme", file_id).tenant == "acme"
    found = []
    for tenant, wanted in (("globex", file_id), ("acme", "file-missing")):
        with pytest.raises(GatewayError) as caught:
            store_call(settings, "get", tenant, wanted)
        found.append((caught.value.status, caught.value.body()["error"]["message"]))
    assert found == [
        (404, f"No such File object: {file_id}"),
        (404, "No such File object: file-missing"),
    ]


def test_extra_fields_may_not_overwrite_the_record(settings: Settings) -> None:
    with pytest.raises(ValueError, match="tenant"):
        store_call(
            settings,
            "create_virtual",
            "acme",
            new_file_id(),
            "o.jsonl",
            "batch_output",
            1,
            {"tenant": "globex"},
        )


def test_healthz_in_process(in_process: tuple[TestClient, NumberedLines]) -> None:
    http, _ = in_process
    assert http.get("/healthz").json() == {"ok": True}
