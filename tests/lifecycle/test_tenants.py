"""Tenants and groups: each names partitions of its own (queued, batched, counted and priced
apart), while a model's token budget at a provider stays one, shared by all of them."""

from __future__ import annotations

import time

from producers.keys import partition_tag
from tests.lifecycle.conftest import Pipeline
from tests.support.items import chat
from worker.metrics.cost import cost_by_tenant
from worker.metrics.exporter import build_metrics
from worker.metrics.snapshot import read_snapshot

CHAT = "/v1/chat/completions"


def test_each_tenant_has_batches_of_its_own_and_its_own_cost(pipeline: Pipeline) -> None:
    pipeline.producer.submit_many(
        [chat(f"a{n}", tenant="acme") for n in range(3)]
        + [chat(f"g{n}", tenant="globex") for n in range(5)]
        + [chat(f"n{n}") for n in range(2)]
    )
    batch_ids = pipeline.run()
    tenants = {
        pipeline.store.partitions.get(pipeline.store.batches.get(b).partition).tenant: b
        for b in batch_ids
    }
    assert set(tenants) == {"acme", "globex", ""}
    assert len(pipeline.store.batches.item_ids(tenants["globex"])) == 5
    costs = cost_by_tenant(pipeline.store)
    assert costs["globex"]["tokens_in"] > costs["acme"]["tokens_in"] > 0
    assert costs["globex"]["spent_usd"] > 0


def test_metrics_sum_a_tenants_groups_into_one_series(pipeline: Pipeline) -> None:
    pipeline.producer.submit_many(
        [chat(f"x{n}", tenant="acme", group="batch-1") for n in range(3)]
        + [chat(f"y{n}", tenant="acme", group="batch-2") for n in range(4)]
    )
    assert len(pipeline.store.partitions.all()) == 2
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in build_metrics(read_snapshot(pipeline.store))
        for s in family.samples
    }
    labels = {"provider": "openai", "endpoint": CHAT, "model": "gpt-4o-mini", "tenant": "acme"}
    assert samples["batchrelay_queue_depth", frozenset(labels.items())] == 7


def test_a_models_token_budget_is_shared_by_every_tenant(pipeline: Pipeline) -> None:
    pipeline = pipeline.reconfigured(token_budgets={"gpt-4o-mini": 60})
    pipeline.producer.submit_many([chat(f"a{n}", tenant="acme") for n in range(3)])
    [first] = pipeline.pack_and_submit()
    pipeline.producer.submit_many([chat(f"g{n}", tenant="globex") for n in range(3)])
    time.sleep(0.01)
    assert pipeline.pack_and_submit() == []  # acme's batch holds the model's budget
    pipeline.poll_until_finished()
    time.sleep(0.01)
    [second] = pipeline.pack_and_submit()
    partition = pipeline.store.partitions.get(pipeline.store.batches.get(second).partition)
    assert partition.tenant == "globex" and first != second


def test_a_finished_groups_partition_is_retired_once_its_results_are_forgotten(
    pipeline: Pipeline,
) -> None:
    pipeline.producer.submit_many([chat(f"r{n}", group="batch-9") for n in range(3)])
    pipeline.run()
    tag = partition_tag(CHAT, "gpt-4o-mini", group="batch-9")
    partition = pipeline.store.partitions.get(tag)
    assert not pipeline.store.partitions.retire(partition)  # its batch is still known
    later = time.time() + pipeline.settings.result_ttl + 1
    pipeline.store.partitions.forget_finished(tag, later)
    # A gateway batch of that group still open counts its progress from the partition.
    pipeline.store.redis.zadd(pipeline.store.keys.gateway_open, {"batch-9": 0})
    assert not pipeline.store.partitions.retire(partition)
    pipeline.store.redis.zrem(pipeline.store.keys.gateway_open, "batch-9")
    assert pipeline.store.partitions.retire(partition)
    assert tag not in {p.tag for p in pipeline.store.partitions.all()}
