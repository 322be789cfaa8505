"""`batchrelay exporter`: metrics read from Redis at scrape time, checked against Redis."""

from __future__ import annotations

import time

import pytest
from redis import Redis

from producers import Producer
from producers.settings import Settings
from tests.ops.conftest import CLI, Services, scrape, value, values, wait_http
from tests.support.cluster import Cluster
from tests.support.inspect import finished
from tests.support.items import chat
from tests.support.waiting import wait_for
from worker.metrics.exporter import build_metrics
from worker.metrics.snapshot import BatchStats, PartitionStats, Snapshot
from worker.services import free_port
from worker.store import Store

CHAT = "/v1/chat/completions"


def start_exporter(services: Services, env: dict[str, str]) -> str:
    port = free_port()
    process = services.start("exporter", [*CLI, "exporter", "--port", str(port)], env)
    url = f"http://127.0.0.1:{port}/metrics"
    wait_http(url, process, "exporter")
    return url


def test_metrics_match_redis_after_a_run(
    cluster: Cluster,
    services: Services,
    producer: Producer,
    redis: Redis,
    settings: Settings,
    worker_env: dict[str, str],
) -> None:
    cluster.worker()
    cluster.beat()
    mini = [chat(f"m{n}", text=f"question {n}") for n in range(6)]
    big = [chat(f"g{n}", model="gpt-4o") for n in range(3)]
    producer.submit_many(mini + big)
    ids = [str(i["id"]) for i in mini + big]
    wait_for(lambda: finished(producer, ids), 60, "items delivered")
    url = start_exporter(services, worker_env)
    in_flight = lambda: sum(values(scrape(url), "batchrelay_batches").values()) == 0  # noqa: E731
    wait_for(in_flight, 20, "every batch collected")

    def cleanups() -> float:
        return sum(values(scrape(url), "batchrelay_provider_file_cleanups").values())

    wait_for(lambda: cleanups() == 0, 20, "every batch's files deleted at the provider")
    samples = scrape(url)
    store = Store(redis, settings)

    assert value(samples, "batchrelay_up") == 1
    assert value(samples, "batchrelay_scrape_duration_seconds") > 0
    for model, n in (("gpt-4o-mini", 6), ("gpt-4o", 3)):
        part = {"provider": "openai", "tenant": "", "endpoint": CHAT, "model": model}
        items = values(samples, "batchrelay_items", **part)
        states = {dict(k)["state"]: v for k, v in items.items()}
        assert states == {
            "queued": 0,
            "packed": 0,
            "submitted": 0,
            "succeeded": 0,
            "failed": 0,
            "dead": 0,
            "delivered": n,
        }
        assert value(samples, "batchrelay_items_submitted_total", **part) == n
        assert value(samples, "batchrelay_queue_depth", **part) == 0
        assert value(samples, "batchrelay_queue_oldest_age_seconds", **part) == 0
        assert value(samples, "batchrelay_dead_letters", **part) == 0
        assert value(samples, "batchrelay_delivery_backlog", **part) == 0
        assert value(samples, "batchrelay_provider_file_cleanups", **part) == 0
        delivered = values(samples, "batchrelay_deliveries_total", kind="item", **part)
        assert {dict(k)["outcome"]: v for k, v in delivered.items()} == {"succeeded": n, "dead": 0}
        tag = next(p.tag for p in store.partitions.all() if p.model == model)
        created = redis.zcard(store.keys_of(tag).batches)
        assert value(samples, "batchrelay_batches_created_total", **part) == created >= 1
        counts = store.partitions.counts(tag)
        tokens_in = value(samples, "batchrelay_tokens_total", model=model, kind="input")
        tokens_out = value(samples, "batchrelay_tokens_total", model=model, kind="output")
        assert (tokens_in, tokens_out) == (counts["tokens_in"], counts["tokens_out"])
        assert tokens_in > 0 and tokens_out > 0
        batch_cost = value(samples, "batchrelay_cost_usd_total", model=model, pricing="batch")
        realtime = value(samples, "batchrelay_cost_usd_total", model=model, pricing="realtime")
        assert batch_cost > 0 and batch_cost == pytest.approx(realtime / 2)
    assert value(samples, "batchrelay_batches_stuck") == 0
    assert not values(samples, "batchrelay_batch_expiry_seconds")


def test_queued_items_without_workers_and_sigterm(
    services: Services, producer: Producer, plain_env: dict[str, str]
) -> None:
    producer.submit_many([chat(f"q{n}") for n in range(4)])
    time.sleep(1.0)
    url = start_exporter(services, plain_env)
    samples = scrape(url)
    part = {"provider": "openai", "tenant": "", "endpoint": CHAT, "model": "gpt-4o-mini"}
    assert value(samples, "batchrelay_up") == 1
    assert value(samples, "batchrelay_queue_depth", **part) == 4
    assert value(samples, "batchrelay_queue_delayed", **part) == 0
    assert value(samples, "batchrelay_items", state="queued", **part) == 4
    assert value(samples, "batchrelay_queue_oldest_age_seconds", **part) >= 1.0
    assert value(samples, "batchrelay_tokens_total", model="gpt-4o-mini", kind="input") == 0
    assert sum(values(samples, "batchrelay_batches").values()) == 0
    assert services.stop("exporter", timeout=10) == 0


def test_redis_down_reports_up_zero(services: Services, plain_env: dict[str, str]) -> None:
    env = {**plain_env, "BATCHRELAY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    samples = scrape(start_exporter(services, env))
    assert value(samples, "batchrelay_up") == 0
    assert not values(samples, "batchrelay_items")


def test_build_metrics_from_a_snapshot() -> None:
    part = PartitionStats(
        provider="openai",
        endpoint=CHAT,
        tenant="",
        model="gpt-4o",
        counts={"queued": 2, "delivered": 5, "webhook_dead": 1, "celery_sent": 4},
        queued=1,
        delayed=1,
        oldest_age=12.5,
        dead_letters=1,
        undelivered=0,
        batches_created=3,
        backoff_seconds=0.0,
        tokens_in_flight=100.0,
        file_cleanups=2,
    )
    batches = [
        BatchStats("openai", "in_progress", expires_in=500.0),
        BatchStats("openai", "finalizing", 90.0, True),
        BatchStats("openai", "validating", None),
        BatchStats("openai", "uploading"),
    ]
    costs = {"gpt-4o": {"tokens_in": 10, "tokens_out": 20, "realtime_usd": 2.0, "spent_usd": 1.0}}
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in build_metrics(Snapshot([part], batches, costs))
        for s in family.samples
    }
    labels = {"provider": "openai", "tenant": "", "endpoint": CHAT, "model": "gpt-4o"}
    assert value(samples, "batchrelay_queue_depth", **labels) == 2
    assert value(samples, "batchrelay_items", state="queued", **labels) == 2
    deliveries = "batchrelay_deliveries_total"
    assert value(samples, deliveries, kind="webhook", outcome="dead", **labels) == 1
    assert value(samples, deliveries, kind="celery", outcome="sent", **labels) == 4
    assert not values(samples, "batchrelay_deliveries_total", outcome="retry")
    assert value(samples, "batchrelay_batch_expiry_seconds") == 90.0
    assert value(samples, "batchrelay_batches_stuck") == 1
    assert value(samples, "batchrelay_provider_file_cleanups", **labels) == 2
    assert value(samples, "batchrelay_batches", provider="openai", status="in_progress") == 1
    assert value(samples, "batchrelay_batches", provider="openai", status="uploading") == 1
    assert value(samples, "batchrelay_batches", provider="openai", status="packing") == 0
    assert value(samples, "batchrelay_cost_usd_total", model="gpt-4o", pricing="batch") == 1.0
