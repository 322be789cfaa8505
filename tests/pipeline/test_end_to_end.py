"""The whole pipeline with real processes: producer -> Redis -> Celery worker and beat ->
emulator over HTTP -> results, Celery callbacks and signed webhooks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from redis import Redis

from producers import Callback, Producer, verify_signature
from producers.settings import Settings
from tests.support.cluster import Cluster
from tests.support.inspect import all_batches, finished, membership, states
from tests.support.items import chat, wait_callbacks
from tests.support.waiting import wait_for
from tests.support.webhook_server import webhook_server
from worker.store import Store


def test_one_item_end_to_end_and_wait(cluster: Cluster, producer: Producer, redis: Redis) -> None:
    cluster.worker()
    cluster.beat()
    producer.submit(chat("one", text="Terrible experience, would not recommend."))
    result = producer.wait("one", timeout=60)
    assert result["status"] == "succeeded"
    assert result["idempotency_key"] == "one:1"
    body = result["response"]["body"]
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
    wait_for(lambda: producer.status("one").state == "delivered", 20, "delivered")
    status = producer.status("one")
    assert list(status.timestamps) == ["queued", "packed", "submitted", "succeeded", "delivered"]
    # Finished items and batches are forgotten with their results, not kept forever.
    keys = producer.locate("one")
    ttl = producer.settings.result_ttl
    assert 0 < redis.ttl(keys.item("one")) <= ttl
    batch_id = status.batch_id
    assert batch_id is not None
    assert 0 < redis.ttl(keys.results(batch_id)) <= ttl
    wait_for(lambda: redis.ttl(keys.batch(batch_id)) > 0, 20, "the batch collected")
    assert 0 < redis.ttl(keys.batch_segments(batch_id)) <= ttl


def test_ten_thousand_items_in_four_batches_delivered_once(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings
) -> None:
    env = {"BATCHRELAY_MAX_REQUESTS_PER_BATCH": "3000", "BATCHRELAY_FLUSH_AFTER": "2"}
    cluster.worker(extra_env=env)
    cluster.worker("receiver", concurrency=2, queues="results", app="tests.support.callback_app")
    ids = [f"i{n:05d}" for n in range(10_000)]
    callback = Callback.celery("receiver.record", queue="results")
    report = producer.submit_many([chat(i, callback=callback) for i in ids])
    assert len(report.accepted) == 10_000
    cluster.beat()
    wait_for(lambda: finished(producer, ids), 180, "10,000 items delivered")
    store = Store(redis, settings)
    batches = [b for b in all_batches(store) if b.state != "abandoned"]
    assert sorted(int(b.number("items")) for b in batches) == [1000, 3000, 3000, 3000]
    assert set(membership(store).values()) == {1} and len(membership(store)) == 10_000
    received = wait_callbacks(redis, 10_000)
    assert isinstance(received, list)
    keys = [orjson.loads(r)["key"] for r in received]
    assert len(keys) == len(set(keys)) == 10_000


def test_byte_limit_splits_a_partition(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings
) -> None:
    cluster.worker(
        extra_env={"BATCHRELAY_MAX_BATCH_BYTES": "20000", "BATCHRELAY_FLUSH_AFTER": "1.5"}
    )
    ids = [f"b{n}" for n in range(40)]
    producer.submit_many([chat(i, text="x" * 1800) for i in ids])
    cluster.beat()
    wait_for(lambda: finished(producer, ids), 60, "items delivered")
    batches = [b for b in all_batches(Store(redis, settings)) if b.state != "abandoned"]
    assert len(batches) >= 4
    assert all(b.number("bytes") <= 20000 for b in batches)
    assert sum(int(b.number("items")) for b in batches) == 40


def test_endpoints_and_models_get_separate_batches(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings, emulator: Any
) -> None:
    cluster.worker(extra_env={"BATCHRELAY_KEEP_FILES": "1"})  # the input files are read below
    items = [chat(f"a{n}", model="gpt-4o-mini") for n in range(5)]
    items += [chat(f"b{n}", model="gpt-4o") for n in range(5)]
    items += [
        {
            "id": f"e{n}",
            "endpoint": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": f"text {n}"},
        }
        for n in range(5)
    ]
    producer.submit_many(items)
    cluster.beat()
    ids = [str(i["id"]) for i in items]
    wait_for(lambda: finished(producer, ids), 60, "items delivered")
    client = emulator.client()
    seen = set()
    for batch in all_batches(Store(redis, settings)):
        if batch.state == "abandoned":
            continue  # opened by a pass that found the queue already taken
        remote = client.batches.retrieve(batch.provider_id)
        content = client.files.content(remote.input_file_id).text.splitlines()
        pairs = {
            (orjson.loads(line)["url"], orjson.loads(line)["body"]["model"]) for line in content
        }
        assert len(pairs) == 1
        seen |= pairs
    assert seen == {
        ("/v1/chat/completions", "gpt-4o-mini"),
        ("/v1/chat/completions", "gpt-4o"),
        ("/v1/embeddings", "text-embedding-3-small"),
    }
    vector = producer.result("e0")
    assert vector and vector["response"]["body"]["data"][0]["embedding"]


def test_signed_webhook_is_received(cluster: Cluster, producer: Producer) -> None:
    secret = "whsec-test-secret"
    cluster.worker(extra_env={"BATCHRELAY_WEBHOOK_SECRET": secret})
    with webhook_server(fail_first=1) as (url, received):
        producer.submit(chat("hooked", callback=Callback.webhook(url, headers={"X-Tenant": "t1"})))
        cluster.beat()
        wait_for(lambda: received.bodies, 60, "webhook delivery")
    headers, body = received.bodies[0]
    verify_signature(secret, body, headers["x-batchrelay-signature"])
    assert headers["idempotency-key"] == "hooked:1" and headers["x-tenant"] == "t1"
    assert orjson.loads(body)["custom_id"] == "hooked"
    wait_for(lambda: producer.status("hooked").state == "delivered", 20, "marked delivered")


def test_cli_submit_file_and_read_results(
    cluster: Cluster, worker_env: dict[str, str], producer: Producer, tmp_path: Path
) -> None:
    lines = [
        {
            "custom_id": f"task-{n}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{n}"}]},
        }
        for n in range(20)
    ]
    path = tmp_path / "batch_input.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    cli = [sys.executable, "-m", "worker.cli"]
    submitted = subprocess.run(
        [*cli, "submit", str(path)], env=worker_env, capture_output=True, text=True, timeout=60
    )
    assert submitted.returncode == 0, submitted.stderr
    assert "accepted 20" in submitted.stdout
    cluster.worker()
    cluster.beat()
    out = tmp_path / "out.jsonl"
    results = subprocess.run(
        [*cli, "results", "--wait", "--timeout", "90", "--output", str(out)],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert results.returncode == 0, results.stderr
    parsed = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(p["custom_id"] for p in parsed) == sorted(
        str(line["custom_id"]) for line in lines
    )
    for p in parsed:
        assert p["error"] is None
        assert p["response"]["body"]["choices"][0]["message"]["content"]
    assert states(producer, [f"task-{n}" for n in range(20)])["delivered"] == 20
