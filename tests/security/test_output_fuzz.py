"""Odd Batch API output: truncated and invalid lines, unknown and duplicate custom_ids, missing
fields and files. Good lines are delivered, bad ones counted, their items retried; collection
never crashes."""

from __future__ import annotations

import time
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis

from producers import Producer
from producers.keys import batch_entry
from producers.settings import Settings
from producers.status import BatchState
from tests.support.dispatch import RecordingDispatcher, submitted_batch
from worker.lifecycle.collecting import Collector, collect, settle_unfinished
from worker.providers.openai import OpenAIBatches
from worker.store import Store
from worker.testing import reset_database

KINDS = st.sampled_from(
    ["ok", "http429", "http400", "error_expired", "truncated", "garbage", "no_fields", "none"]
)


def line(kind: str, custom_id: str) -> bytes | None:
    ok = {
        "id": "r",
        "custom_id": custom_id,
        "error": None,
        "response": {
            "status_code": 200,
            "request_id": "q",
            "body": {"usage": {"prompt_tokens": 3}},
        },
    }
    shapes: dict[str, Any] = {
        "ok": ok,
        "http429": {
            **ok,
            "response": {"status_code": 429, "body": {"error": {"code": "rate_limit_exceeded"}}},
        },
        "http400": {
            **ok,
            "response": {
                "status_code": 400,
                "body": {"error": {"message": "bad", "type": "invalid"}},
            },
        },
        "error_expired": {
            "custom_id": custom_id,
            "response": None,
            "error": {"code": "batch_expired", "message": "late"},
        },
        "no_fields": {"custom_id": custom_id},
    }
    if kind == "truncated":
        return orjson.dumps(ok)[:-7]
    if kind == "garbage":
        return b"\x00\xff not json"
    if kind == "none":
        return None
    return orjson.dumps(shapes[kind])


FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(
    kinds=st.lists(KINDS, min_size=1, max_size=12),
    extra=st.lists(st.binary(max_size=30), max_size=3),
    duplicate=st.booleans(),
    unknown=st.booleans(),
)
def test_collect_survives_any_output(
    kinds: list[str],
    extra: list[bytes],
    duplicate: bool,
    unknown: bool,
    producer: Producer,
    redis: Redis,
    settings: Settings,
) -> None:
    reset_database(redis)
    store = Store(redis, settings)
    batch = submitted_batch(producer, store, len(kinds))
    members = store.batches.item_ids(batch.id)
    lines = [line(kind, item_id) for kind, item_id in zip(kinds, members, strict=True)]
    if duplicate:
        lines.append(line("http400", members[0]))
    if unknown:
        lines.append(line("ok", "not-a-member"))
    lines += [e.replace(b"\n", b"") for e in extra]
    dispatcher = RecordingDispatcher()
    collector = Collector(store, batch, dispatcher, settings)
    collector.settle_lines(raw for raw in lines if raw is not None and raw.strip())
    settle_unfinished(collector, store.batches.get(batch.id))
    collector.close()
    unsettling = ("truncated", "garbage", "no_fields", "none")
    if duplicate and kinds[0] in unsettling:
        kinds[0] = "http400"  # the duplicate line is then the first one that counts
    finished = []
    for n, (kind, item_id) in enumerate(zip(kinds, members, strict=True)):
        status = producer.status(item_id)
        outcome = {"ok": "succeeded", "http400": "dead"}.get(kind)
        assert status.outcome == outcome, (kind, status)
        if outcome is None:
            assert status.state == "queued", (kind, status)
        elif n % 2 or (outcome == "succeeded" and len(kinds) > 1):
            # With a callback; or a success stored in bulk where items of its segment have
            # callbacks (delivery writes its state): awaits its delivery task.
            assert status.state == outcome, (kind, status)
            finished.append(item_id)
        else:  # without a callback: delivered by its Redis result, at once
            assert status.state == "delivered", (kind, status)
        assert (producer.result(item_id) is not None) == (outcome is not None)
    assert sorted(dispatcher.delivered) == sorted(finished)
    report = collector.report
    bad = sum(1 for k in kinds if k in ("truncated", "garbage", "no_fields"))
    assert report.bad_lines >= bad


def test_missing_output_file_requeues_the_items(
    producer: Producer, redis: Redis, settings: Settings, emulator: Any
) -> None:
    store = Store(redis, settings)
    batch = submitted_batch(producer, store, 5)
    store.batches.update(batch.id, output_file_id="file-does-not-exist")
    api = OpenAIBatches(settings, client=emulator.client(max_retries=0))
    report = collect(store, api, RecordingDispatcher(), settings, batch.id)
    assert report is not None and report.missing_files == 1 and report.retried == 5
    assert store.batches.get(batch.id).state == BatchState.COLLECTED
    assert set(producer.states(store.batches.item_ids(batch.id)).values()) == {"queued"}


def test_a_collect_run_again_repeats_nothing(
    producer: Producer, redis: Redis, settings: Settings
) -> None:
    """A collect resumed after a crash reads the same lines again: bulk-stored successes and
    requeued items are skipped, even when a success line for the requeued item turns up."""
    store = Store(redis, settings)
    batch = submitted_batch(producer, store, 6)
    kinds = ["ok", "ok", "ok", "ok", "http429", "ok"]
    lines = [line(kind, f"o{n}") or b"" for n, kind in enumerate(kinds)]

    def run(extra: list[bytes]) -> Collector:
        collector = Collector(store, batch, RecordingDispatcher(), settings)
        collector.settle_lines(lines + extra)
        collector.close()
        return collector

    first = run([])
    assert (first.report.succeeded, first.report.retried) == (5, 1)
    counts = store.partitions.counts(batch.partition)
    result = producer.result("o1")
    assert result is not None
    assert result == {
        "attempt": 1, "idempotency_key": "o1:1", "metadata": {}, "id": "o1", "custom_id": "o1",
        "status": "succeeded", "response": orjson.loads(lines[1])["response"], "error": None,
        "batch_id": batch.id, "openai_batch_id": "batch_fuzz",
    }  # fmt: skip
    again = run([line("ok", "o4") or b""])
    assert (again.report.succeeded, again.report.retried, again.report.dead) == (0, 0, 0)
    assert again.report.skipped == 7
    assert store.partitions.counts(batch.partition) == counts
    assert producer.result("o1") == result
    assert producer.status("o4").state == "queued" and producer.result("o4") is None
    succeeded = producer.states([f"o{n}" for n in (0, 1, 2, 3, 5)])
    assert list(succeeded.values()) == ["succeeded"] * 5


def test_successes_without_callbacks_are_delivered_as_they_settle(
    producer: Producer, redis: Redis, settings: Settings
) -> None:
    store = Store(redis, settings)
    batch = submitted_batch(producer, store, 3, callbacks=False)
    dispatcher = RecordingDispatcher()
    collector = Collector(store, batch, dispatcher, settings)
    collector.settle_lines([line("ok", f"o{n}") or b"" for n in range(3)])
    collector.close()
    assert collector.report.succeeded == 3 and dispatcher.delivered == []
    assert set(producer.states(["o0", "o1", "o2"]).values()) == {"delivered"}
    counts = store.partitions.counts(batch.partition)
    assert (counts["delivered"], counts["delivered_succeeded"], counts["submitted"]) == (3, 3, 0)
    assert 0 < redis.ttl(store.keys_of(batch.partition).item("o1")) <= settings.result_ttl
    assert (producer.result("o1") or {})["status"] == "succeeded"


def test_a_collect_after_redis_forgot_its_scripts_stores_everything(
    producer: Producer, redis: Redis, settings: Settings
) -> None:
    """The bulk settle is sent as a bare EVALSHA; a Redis that restarted answers NOSCRIPT."""
    store = Store(redis, settings)
    batch = submitted_batch(producer, store, 4)
    redis.script_flush()
    collector = Collector(store, batch, RecordingDispatcher(), settings)
    collector.settle_lines([line("ok", f"o{n}") or b"" for n in range(4)])
    collector.close()
    assert collector.report.succeeded == 4
    assert [(producer.result(f"o{n}") or {}).get("status") for n in range(4)] == ["succeeded"] * 4


def test_bulk_successes_whose_dispatch_was_lost_fall_due_with_their_batch(
    producer: Producer, redis: Redis, settings: Settings
) -> None:
    """A collector that died before dispatching leaves stored successes with no delivery task
    on its way. One entry of their batch leases them all; when it falls due it stands for the
    successes no delivery task has claimed, and it goes once the last is claimed. An item
    revived after an earlier delivery keeps its old claim deadline: it is found all the same,
    and one whose old claim has not ended yet is due when that ends."""
    store = Store(redis, settings)
    batch = submitted_batch(producer, store, 6)  # o1, o3, o5 have a callback
    tag, keys, entry = batch.partition, store.keys_of(batch.partition), batch_entry(batch.id)
    held_until = time.time() + 10 * settings.lease_seconds
    redis.hset(keys.item("o3"), "delivery_lease", 1)  # revived: its old claim ended long ago
    redis.hset(keys.item("o5"), "delivery_lease", held_until)  # revived while an old claim holds it
    collector = Collector(store, batch, RecordingDispatcher(), settings)  # dispatches nothing
    collector.settle_lines([line("ok", f"o{n}") or b"" for n in range(6)])
    collector.close()
    assert redis.zrange(keys.undelivered, 0, -1) == [entry.encode()]
    assert store.deliveries.due(tag, time.time(), 100) == []  # leased by the collect

    assert store.deliveries.take(tag, ["o0", "o1"]) == ["o1"]  # one task got through
    later = time.time() + settings.lease_seconds + 1
    assert sorted(store.deliveries.due(tag, later, 100)) == ["o1", "o2", "o3", "o4", "o5"]
    assert sorted(store.deliveries.take(tag, ["o2", "o3", "o4", "o5"])) == ["o3"]
    assert redis.zscore(keys.undelivered, entry) is None
    assert redis.zscore(keys.undelivered, "o5") == held_until
    assert store.deliveries.mark_delivered(tag, ["o1", "o3"]) == 2
    assert store.deliveries.due(tag, held_until + 1, 100) == ["o5"]
    redis.hset(keys.item("o5"), "delivery_lease", 0)  # the old claim's task gave up
    assert store.deliveries.take(tag, ["o5"]) == ["o5"]
    assert store.deliveries.mark_delivered(tag, ["o5"]) == 1
    assert set(producer.states([f"o{n}" for n in range(6)]).values()) == {"delivered"}
    assert redis.zcard(keys.undelivered) == 0

    # An entry whose count went wrong (its items were deleted by hand, say) finds nothing
    # left to claim when it falls due, and goes.
    redis.zadd(keys.undelivered, {entry: 0})
    redis.hincrby(keys.batch(batch.id), "unclaimed", 2)
    assert store.deliveries.due(tag, later, 100) == []
    assert redis.zcard(keys.undelivered) == 0
