"""The Batch API front door with real processes: a gateway, Celery workers and beat, the
emulator over HTTP, and the official openai SDK as the client."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from redis import Redis

from gateway.backend import Backend
from gateway.output import OUTPUT, write_file
from gateway.testing import RunningGateway, running_gateway
from producers.settings import Settings
from tests.emulator.test_tutorial_client import TUTORIAL_SCRIPT
from tests.gateway.conftest import ACME_KEY, GLOBEX_KEY, gateway_env, jsonl
from tests.support.cluster import Cluster
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(cluster: Cluster, worker_env: dict[str, str]) -> Iterator[RunningGateway]:
    """A worker, a beat, and a gateway over the same Redis and emulator."""
    cluster.worker()
    cluster.beat()
    env = {**worker_env, **gateway_env(worker_env["BATCHRELAY_REDIS_URL"])}
    with running_gateway(env) as gateway:
        yield gateway


def upload(client: openai.OpenAI, data: bytes, name: str = "input.jsonl") -> str:
    return client.files.create(file=(name, io.BytesIO(data)), purpose="batch").id


def finished(client: openai.OpenAI, batch_id: str, timeout: float = 180) -> Any:
    ended = ("completed", "failed", "expired", "cancelled")
    wait_for(lambda: client.batches.retrieve(batch_id).status in ended, timeout, "batch ended")
    return client.batches.retrieve(batch_id)


def output(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [orjson.loads(line) for line in client.files.content(file_id).read().splitlines()]


def test_a_batch_comes_back_as_openai_returns_it(stack: RunningGateway) -> None:
    client = stack.client(ACME_KEY)
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(30)),
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert batch.status == "validating" and batch.metadata == {"job": "nightly"}
    done = finished(client, batch.id)
    assert done.status == "completed" and done.error_file_id is None
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (30, 30)
    assert done.completed_at and done.in_progress_at and done.finalizing_at
    lines = output(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in lines) == sorted(f"req-{i}" for i in range(30))
    assert all(line["response"]["status_code"] == 200 and line["error"] is None for line in lines)
    listed = client.batches.list()
    assert [b.id for b in listed.data] == [batch.id]
    record = client.files.retrieve(done.output_file_id)
    assert record.purpose == "batch_output"
    content = client.files.content(done.output_file_id)
    assert int(content.response.headers["content-length"]) == record.bytes == len(content.content)
    # A janitor that writes the file again (its first one died) replaces it, same id.
    backend = Backend(Settings(redis_url=stack.env["BATCHRELAY_REDIS_URL"]))
    try:
        gateway_batch = backend.batches.load(batch.id)
        assert gateway_batch is not None
        assert write_file(backend, gateway_batch, OUTPUT) == done.output_file_id
        assert client.files.content(done.output_file_id).content == content.content
        outputs = [f.id for f in client.files.list() if f.purpose == "batch_output"]
        assert outputs == [done.output_file_id]
        ttl = backend.redis.ttl(f"br:gw:file:{done.output_file_id}:chunks")
        assert 0 < ttl <= backend.settings.result_ttl  # it expires with the results
    finally:
        backend.close()


def test_a_bad_file_fails_the_batch_with_numbered_errors_and_queues_nothing(
    stack: RunningGateway, redis: Redis
) -> None:
    client = stack.client(ACME_KEY)
    good = json.loads(jsonl(1))
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({**good, "url": "/v1/embeddings"}),
        json.dumps(good),  # a duplicate custom_id
        json.dumps({k: v for k, v in good.items() if k != "custom_id"}),
    ]
    batch = client.batches.create(
        input_file_id=upload(client, "\n".join(lines).encode()),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    done = finished(client, batch.id, 30)
    assert done.status == "failed" and done.failed_at
    assert done.errors is not None and done.errors.data is not None
    found = {(e.code, e.line) for e in done.errors.data}
    assert found == {
        ("invalid_json_line", 2),
        ("invalid_json_line", 3),
        ("invalid_url", 4),
        ("duplicate_custom_id", 5),
        ("missing_required_parameter", 6),
    }
    assert not redis.keys("br:{*}:item:*")  # nothing of it was enqueued


def test_cancel_keeps_what_finished_and_withdraws_the_rest(
    stack: RunningGateway, cluster: Cluster
) -> None:
    client = stack.client(ACME_KEY)
    cluster.kill("beat")  # nothing is packed: every line still waits when the cancel comes
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(20)),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    wait_for(lambda: client.batches.retrieve(batch.id).status == "in_progress", 30, "enqueued")
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")
    done = finished(client, batch.id, 30)
    assert done.status == "cancelled" and done.cancelled_at
    assert done.request_counts is not None and done.request_counts.failed == 20
    errors = output(client, done.error_file_id)
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    assert sorted(e["custom_id"] for e in errors) == sorted(f"req-{i}" for i in range(20))


def test_past_its_window_a_batch_expires_and_its_waiting_lines_are_reported(
    stack: RunningGateway, cluster: Cluster
) -> None:
    client = stack.client(ACME_KEY)
    done_early = client.batches.create(
        input_file_id=upload(client, jsonl(5, prefix="early")),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    assert finished(client, done_early.id).status == "completed"
    cluster.kill("beat")  # from here nothing is packed: the late lines wait past the window
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(10, prefix="late")),
        endpoint="/v1/chat/completions",
        completion_window="3s",  # type: ignore[arg-type]  # any window, at the gateway
    )
    done = finished(client, batch.id, 30)
    assert done.status == "expired" and done.expired_at and done.expires_at
    assert done.expires_at - done.created_at == 3
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (0, 10)
    errors = output(client, done.error_file_id)
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert sorted(e["custom_id"] for e in errors) == sorted(f"late-{i}" for i in range(10))
    with pytest.raises(openai.BadRequestError):
        client.batches.create(
            input_file_id=upload(client, jsonl(1)),
            endpoint="/v1/chat/completions",
            completion_window="169h",  # type: ignore[arg-type]
        )


def test_another_tenants_batch_and_files_are_not_found(stack: RunningGateway) -> None:
    acme, globex = stack.client(ACME_KEY), stack.client(GLOBEX_KEY, max_retries=0)
    file_id = upload(acme, jsonl(2))
    batch = acme.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    with pytest.raises(openai.NotFoundError):
        globex.batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        globex.batches.cancel(batch.id)
    with pytest.raises(openai.BadRequestError):  # its file is not theirs either
        globex.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert globex.batches.list().data == []
    done = finished(acme, batch.id)
    with pytest.raises(openai.NotFoundError):
        globex.files.content(done.output_file_id or "")


def test_the_tutorials_client_unchanged(stack: RunningGateway, tmp_path: Path) -> None:
    script = tmp_path / "tutorial.py"
    script.write_text(TUTORIAL_SCRIPT)
    env = {"OPENAI_BASE_URL": stack.base_url, "OPENAI_API_KEY": ACME_KEY}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "task-0: positive",
        "task-1: negative",
        "task-2: positive",
        "task-3: negative",
    ]
