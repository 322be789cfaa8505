"""What the worker does with each kind of failure, end to end through real processes, and the
operator commands around it: cancel, retry, inspect, stuck reporting, token budgets."""

from __future__ import annotations

from typing import Any

import orjson
from redis import Redis

from producers import Producer
from producers.settings import Settings
from tests.support.cli import cli
from tests.support.cluster import Cluster
from tests.support.dispatch import RecordingDispatcher, submitted_batch
from tests.support.inspect import all_batches, finished
from tests.support.items import chat
from tests.support.waiting import wait_for
from worker.lifecycle.collecting import Collector, settle_unfinished
from worker.store import Store


def test_validation_failure_dead_letters_the_lines_named(
    cluster: Cluster, producer: Producer
) -> None:
    good = [chat(f"g{n}") for n in range(3)]
    bad = [chat(f"x{n}", model="text-embedding-3-small") for n in range(3)]
    producer.submit_many(good + bad)
    cluster.worker()
    cluster.beat()
    ids = [str(i["id"]) for i in good + bad]
    wait_for(lambda: finished(producer, ids), 60, "all settled")
    for item in bad:
        status = producer.status(str(item["id"]))
        assert (status.outcome, status.code) == ("dead", "model_not_found")
        assert status.message and status.message.startswith("line ")
    assert {producer.status(str(i["id"])).outcome for i in good} == {"succeeded"}


def test_failed_batch_maps_error_lines_to_items(
    producer: Producer, redis: Redis, settings: Settings
) -> None:
    store = Store(redis, settings)
    batch = submitted_batch(producer, store, 5, state="failed")
    errors = [
        {"code": "invalid_url", "line": 2, "message": "bad url"},
        {"code": "missing_required_parameter", "line": 4, "message": "no body"},
    ]
    store.batches.update(batch.id, errors=orjson.dumps(errors).decode(), error_code="invalid_url")
    batch = store.batches.get(batch.id)
    collector = Collector(store, batch, RecordingDispatcher(), settings)
    settle_unfinished(collector, batch)
    collector.close()
    members = store.batches.item_ids(batch.id)
    states = {m: producer.status(m) for m in members}
    assert [states[m].outcome for m in members] == [None, "dead", None, "dead", None]
    assert (
        states[members[1]].code == "invalid_url" and states[members[3]].message == "line 4: no body"
    )
    assert all(states[m].state == "queued" and states[m].attempt == 1 for m in members[::2])


def test_token_limit_exceeded_requeues_without_an_attempt_and_backs_off(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings, emulator: Any
) -> None:
    emulator.set_faults(fault="token_limit_exceeded", fault_rate=1.0)
    ids = [f"t{n}" for n in range(20)]
    producer.submit_many([chat(i) for i in ids])
    cluster.worker()
    cluster.beat()
    store = Store(redis, settings)
    wait_for(
        lambda: any(b.get("error_code") == "token_limit_exceeded" for b in all_batches(store)),
        60,
        "a token_limit_exceeded batch",
    )
    tag = store.partitions.all()[0].tag
    wait_for(
        lambda: (
            float(store.partitions.budget(store.partitions.get(tag)).get("backoff_until") or 0) > 0
        ),
        30,
        "the model backed off",
    )
    emulator.set_faults(fault=None)
    wait_for(lambda: finished(producer, ids), 90, "all delivered once the limit lifts")
    assert {producer.status(i).attempt for i in ids} == {1}
    assert {producer.status(i).outcome for i in ids} == {"succeeded"}


def test_token_budget_bounds_tokens_in_flight(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings
) -> None:
    budget = 1500
    ids = [f"b{n:03d}" for n in range(150)]
    producer.submit_many([chat(i) for i in ids])
    cluster.worker(
        extra_env={"BATCHRELAY_TOKEN_BUDGETS": orjson.dumps({"gpt-4o-mini": budget}).decode()}
    )
    cluster.beat()
    wait_for(lambda: finished(producer, ids), 120, "all delivered under the budget")
    batches = [b for b in all_batches(Store(redis, settings)) if b.state == "collected"]
    assert len(batches) > 1 and all(b.number("tokens") <= budget for b in batches)
    spans = [
        (b.number("submitted_at"), b.number("collected_at"), b.number("tokens")) for b in batches
    ]
    for start, _, _ in spans:
        in_flight = sum(t for s, e, t in spans if s <= start < e)
        assert in_flight <= budget, (start, in_flight)


def test_cancel_retry_inspect_and_stuck_from_the_cli(
    cluster: Cluster,
    producer: Producer,
    redis: Redis,
    settings: Settings,
    worker_env: dict[str, str],
    emulator: Any,
) -> None:
    emulator.set_faults(batch_seconds=30, finalize_seconds=0.1)
    ids = [f"c{n}" for n in range(10)]
    producer.submit_many([chat(i) for i in ids])
    cluster.worker(extra_env={"BATCHRELAY_STUCK_AFTER": "1"})
    cluster.beat()
    store = Store(redis, settings)
    live = wait_for(lambda: store.batches.live(), 60, "a live batch")
    wait_for(
        lambda: store.batches.get(live[0]).get("provider_status") == "in_progress",
        30,
        "in progress",
    )
    cancelled = cli(worker_env, "cancel", live[0])
    assert cancelled.returncode == 0 and "requeued" in cancelled.stdout, cancelled.stderr
    emulator.set_faults(batch_seconds=0.3, line_400_rate=1.0)
    wait_for(lambda: finished(producer, ids), 90, "cancelled items retried, then dead on 400s")
    assert store.batches.get(live[0]).get("provider_status") == "cancelled"
    # Lines finished before the cancel are delivered; the rest were retried, then died on 400s.
    outcomes = {i: (producer.status(i).attempt, producer.status(i).outcome) for i in ids}
    assert set(outcomes.values()) <= {(1, "succeeded"), (2, "dead")}, outcomes
    dead = [i for i, (_, outcome) in outcomes.items() if outcome == "dead"]
    assert dead
    inspected = cli(worker_env, "inspect", dead[0], "--json")
    data = orjson.loads(inspected.stdout)
    assert data["status"]["state"] == "delivered" and "batch_cancelled" in data["status"]["history"]
    emulator.set_faults(line_400_rate=0.0)
    retried = cli(worker_env, "retry", "--reason", data["status"]["code"])
    assert f"retried {len(dead)}" in retried.stdout, retried.stdout + retried.stderr
    wait_for(
        lambda: {producer.status(i).outcome for i in ids} == {"succeeded"},
        90,
        "retried items succeed",
    )
    emulator.set_faults(stuck="validating")
    producer.submit(chat("stuck-1"))

    def stuck() -> bool:
        status = orjson.loads(cli(worker_env, "status", "--json").stdout)
        return any(b["stuck"] == "validating" for b in status["live_batches"])

    wait_for(stuck, 60, "a stuck batch reported by status")
