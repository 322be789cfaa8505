"""The producer SDK against a real Redis: storing once, refusing clearly, reporting exactly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from redis import Redis
from redis.exceptions import ResponseError

from producers import Callback, InvalidItem, Producer, QueueFull, WorkItem
from producers.keys import Keys, partition_tag
from producers.models import prepare
from producers.settings import Settings
from tests.support.async_facade import AsyncFacade
from tests.support.dispatch import TAG
from tests.support.inspect import queued_ids
from worker.testing import OWNED_MARK, reset_database


def chat(item_id: str | None = None, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "body": {"model": model, "messages": [{"role": "user", "content": "hi"}]},
        **extra,
    }
    if item_id is not None:
        item["id"] = item_id
    return item


def keyspace(redis: Redis) -> set[bytes]:
    """Every key, but the mark of the tests' own database."""
    return set(redis.scan_iter(count=1000)) - {OWNED_MARK.encode()}


@pytest.fixture(params=["Producer", "AsyncProducer"])
def producer(request: pytest.FixtureRequest, redis: Redis, settings: Settings) -> Iterator[Any]:
    """Each behavioural test runs against both producers (AsyncProducer through a facade)."""
    if request.param == "Producer":
        yield Producer(redis, settings)
        return
    facade = AsyncFacade(settings)
    yield facade
    facade.close()


def test_submit_stores_the_request_line_once(producer: Producer, redis: Redis) -> None:
    assert producer.submit(chat("a")) == "a"
    assert producer.submit(chat("a")) == "a"
    keys = Keys().partition(partition_tag("/v1/chat/completions", "gpt-4o-mini"))
    assert queued_ids(redis, keys) == [b"a"]
    line = orjson.loads(producer.request_line("a") or b"")
    assert line == {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    }
    status = producer.status("a")
    assert (status.state, status.attempt) == ("queued", 1)


def test_generated_ids_and_work_item_objects(producer: Producer) -> None:
    item = WorkItem(body={"model": "m"}, callback=Callback.celery("svc.on_result", queue="results"))
    assert producer.submit(item) == item.id
    assert item.id.startswith("item-")
    assert producer.status(item.id).state == "queued"


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"id": "x1", "body": {"messages": []}}, "body.model"),
        ({"id": "x2", "body": {"model": "m", "stream": True}}, "body.stream"),
        ({"id": "x3", "endpoint": "/v1/images", "body": {"model": "m"}}, "endpoint"),
        ({"id": "x" * 65, "body": {"model": "m"}}, "id"),
        ({"id": "bad\nid", "body": {"model": "m"}}, "id"),
        (
            {"id": "x4", "body": {"model": "m"}, "metadata": {f"k{i}": "v" for i in range(17)}},
            "metadata",
        ),
        ({"id": "x5", "body": {"model": "m", "x": float("nan")}}, "body"),
        ({"id": "x6", "body": {"model": "m", "x": {1, 2}}}, "body"),
        ({"id": "x7", "body": {"model": "m"}, "callback": {"url": "ftp://x"}}, "callback.url"),
        ({"id": "x8", "body": {"model": "m"}, "surprise": 1}, "surprise"),
        ({"id": "x9", "endpoint": "/v1/embeddings", "body": {"model": "m"}}, "body.input"),
    ],
)
def test_invalid_items_name_the_item_and_field_and_store_nothing(
    producer: Producer, redis: Redis, item: dict[str, Any], field: str
) -> None:
    before = keyspace(redis)
    with pytest.raises(InvalidItem) as caught:
        producer.submit(item)
    rejection = caught.value.rejections[0]
    assert rejection.field == field, caught.value
    assert rejection.item_id == item["id"]
    assert repr(item["id"])[1:11] in str(caught.value) and field in str(caught.value)
    assert keyspace(redis) == before


def test_oversize_item_is_refused(redis: Redis, redis_url: str) -> None:
    producer = Producer(redis, Settings(redis_url=redis_url, max_item_bytes=1000))
    with pytest.raises(InvalidItem, match="per-item limit"):
        producer.submit({"id": "big", "body": {"model": "m", "x": "y" * 2000}})


def test_submit_many_reports_exactly_and_bad_items_block_nothing(producer: Producer) -> None:
    producer.submit(chat("dup"))
    items = [
        chat("ok-1"),
        {"id": "bad", "body": {}},
        chat("dup"),
        chat("ok-2", model="other"),
        chat("ok-1"),
    ]
    report = producer.submit_many(items)
    assert report.accepted == ["ok-1", "ok-2"]
    assert sorted(report.duplicates) == ["dup", "ok-1"]
    assert [(r.index, r.item_id, r.field) for r in report.rejected] == [(1, "bad", "body.model")]
    assert {producer.status(i).state for i in ("ok-1", "ok-2", "dup")} == {"queued"}
    assert len(producer.partitions()) == 2


def test_a_lost_partition_registry_is_rebuilt_by_the_next_submit(
    producer: Producer, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry is how workers find queues. A producer registers a partition, and Redis
    marks it registered; a Redis that kept no AOF comes back without both, and the next
    submit of either kind, which finds no mark, registers the partition before its items go
    in. An entry deleted by hand, the mark left, comes back with the next registration, which
    a producer makes every REGISTRY_REFRESH seconds."""
    info = [{"endpoint": "/v1/chat/completions", "model": "gpt-4o-mini", "provider": "openai"}]
    producer.submit(chat("first"))
    assert list(producer.partitions().values()) == info
    for n, one_by_one in enumerate((True, False)):
        reset_database(redis)  # Redis lost everything: the registry, the mark, the items
        if one_by_one:
            assert producer.submit(chat(f"again-{n}")) == f"again-{n}"
        else:
            assert producer.submit_many([chat(f"again-{n}")]).accepted == [f"again-{n}"]
        assert list(producer.partitions().values()) == info
        assert producer.status(f"again-{n}").state == "queued"
    reset_database(redis)
    redis.script_flush()  # and Redis forgot the script too
    producer.submit(chat("third"))
    assert list(producer.partitions().values()) == info
    redis.delete(producer.keys.partitions)  # deleted by hand; the mark stays
    producer.submit(chat("fourth"))
    assert producer.partitions() == {}  # registered a moment ago: not yet again
    monkeypatch.setattr("producers.storing.REGISTRY_REFRESH", 0.0)
    producer.submit(chat("fifth"))
    assert list(producer.partitions().values()) == info


@pytest.mark.parametrize("producer", ["Producer"], indirect=True)  # its ItemWriter
def test_the_submit_script_stores_nothing_in_a_partition_not_registered(
    producer: Producer, redis: Redis
) -> None:
    """A caller that did not just register the partition, where Redis has no mark, gets -2
    and nothing is stored; a registry write that fails stores nothing either."""
    item = prepare(chat("a"), None, 10**6)
    tag = partition_tag(item.endpoint, item.model)
    command = producer._writer.command(tag, [item], "1.0", registered=False)
    assert redis.execute_command(*command) == [-2]  # type: ignore[no-untyped-call]
    assert keyspace(redis) == set()
    redis.set(producer.keys.partitions, "not a hash")  # the registry write fails
    with pytest.raises(ResponseError):
        producer.submit(chat("a"))
    assert keyspace(redis) == {producer.keys.partitions.encode()}


@pytest.mark.parametrize("producer", ["Producer"], indirect=True)  # its window sender
def test_submit_many_survives_its_connections_dropped(producer: Producer, redis: Redis) -> None:
    """Redis drops the sender's connections with windows in flight: the rest of each window
    goes again through the client, and every item is stored once and reported."""

    killed = []

    def items() -> Iterator[dict[str, Any]]:
        for n in range(5_000):
            if n in (1_500, 3_500):  # two windows are in flight by then
                killed.append(redis.client_kill_filter(_type="normal", skipme=True))
            yield chat(f"k{n}")

    report = producer.submit_many(items())
    assert len(killed) == 2 and all(killed), killed  # the sender's connections did drop
    ids = {f"k{n}" for n in range(5_000)}
    assert set(report.accepted) | set(report.duplicates) == ids
    assert len(report.accepted) + len(report.duplicates) == 5_000
    assert set(queued_ids(redis, producer.keys.partition(TAG))) == {i.encode() for i in ids}


def test_submit_many_strict_stores_nothing_on_any_error(producer: Producer, redis: Redis) -> None:
    before = keyspace(redis)
    with pytest.raises(InvalidItem):
        producer.submit_many([chat("a"), {"id": "b", "body": {"model": ""}}], strict=True)
    assert keyspace(redis) == before


def test_queue_full_is_clear_and_partial(redis: Redis, redis_url: str) -> None:
    producer = Producer(redis, Settings(redis_url=redis_url, max_queued=3))
    report = producer.submit_many([chat(f"i{n}") for n in range(5)])
    assert report.accepted == ["i0", "i1", "i2"]
    assert report.queue_full == ["i3", "i4"]
    with pytest.raises(QueueFull, match="limit of 3"):
        producer.submit(chat("i9"))
    assert producer.submit(chat("i0")) == "i0"  # a duplicate is not refused for being full


def test_wait_times_out_without_a_result(producer: Producer) -> None:
    from producers import WaitTimeout

    producer.submit(chat("slow"))
    with pytest.raises(WaitTimeout):
        producer.wait("slow", timeout=0.3)


def test_the_sdk_needs_neither_celery_nor_the_worker() -> None:
    import subprocess
    import sys

    code = (
        "import sys, producers; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('celery', 'kombu', 'worker')]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_fields_besides_the_line_are_stored_as_given(producer: Producer, redis: Redis) -> None:
    callback = Callback(task="svc.done", queue="results", url="https://hooks.example/x",
                        headers={"X-Token": "t"})  # fmt: skip
    producer.submit(WorkItem(id='quo"te\\id', body={"model": "m"}, callback=callback,
                             metadata={"ticket": "42"}))  # fmt: skip
    producer.submit({"id": "emb", "endpoint": "/v1/embeddings",
                     "body": {"model": "e", "input": ["a", "b", "c"]}})  # fmt: skip
    fields = redis.hgetall(producer.locate('quo"te\\id').item('quo"te\\id'))
    assert Callback.model_validate_json(fields[b"callback"]) == callback
    assert orjson.loads(fields[b"metadata"]) == {"ticket": "42"}
    assert orjson.loads(producer.request_line('quo"te\\id') or b"")["custom_id"] == 'quo"te\\id'
    assert b"inputs" not in fields
    assert redis.hget(producer.locate("emb").item("emb"), "inputs") == b"3"


def test_submit_many_streams_its_input(producer: Producer, redis: Redis) -> None:
    """A generator is consumed window by window: items are in Redis before it is exhausted."""
    keys = Keys().partition(partition_tag("/v1/chat/completions", "gpt-4o-mini"))
    seen_stored: list[int] = []

    def generate() -> Iterator[dict[str, Any]]:
        for n in range(20_001):
            if n == 19_000:
                seen_stored.append(len(queued_ids(redis, keys)))
            if n == 9_000:
                yield {"id": "broken", "body": {"model": 7}}
            elif n == 17_000:
                yield chat("i5")
            else:
                yield chat(f"i{n}")

    report = producer.submit_many(generate())
    assert seen_stored and seen_stored[0] >= 8_000, seen_stored
    assert [(r.index, r.item_id, r.field) for r in report.rejected] == [
        (9000, "broken", "body.model")
    ]
    assert report.duplicates == ["i5"]
    assert len(report.accepted) == 19_999 == len(set(report.accepted))
    assert len(queued_ids(redis, keys)) == 19_999


def test_strict_validates_everything_before_storing(producer: Producer, redis: Redis) -> None:
    def generate() -> Iterator[dict[str, Any]]:
        yield from (chat(f"s{n}") for n in range(10_000))
        yield {"id": "last", "body": {}}

    with pytest.raises(InvalidItem, match="last"):
        producer.submit_many(generate(), strict=True)
    assert keyspace(redis) == set()


def test_a_redis_that_forgot_the_scripts_gets_them_again(producer: Producer, redis: Redis) -> None:
    """After a Redis restart (script cache empty), every item is stored once and reported
    accepted, also while two windows are in flight and one reloads the scripts halfway
    through the other's pipeline."""
    for run in range(6):  # the race is likely, not certain, in any one run
        redis.script_flush()
        report = producer.submit_many(chat(f"r{run}-{n}") for n in range(20_000))
        assert len(report.accepted) == 20_000 and not report.duplicates, len(report.duplicates)


@pytest.mark.parametrize("producer", ["Producer"], indirect=True)  # its window sender
def test_submit_many_memory_stays_flat(producer: Producer, redis: Redis) -> None:
    """Five times the items, about the same peak besides the report: only the windows in
    flight are held (the report's list of ids is what grows)."""
    import sys
    import tracemalloc

    held = []  # peak MB traced, less the report's ids
    for count in (20_000, 100_000):
        reset_database(redis)
        tracemalloc.start()
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 600}]}
        report = producer.submit_many({"id": f"m{n}", "body": body} for n in range(count))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(report.accepted) == count
        ids = sys.getsizeof(report.accepted) + sum(map(sys.getsizeof, report.accepted))
        held.append((peak - ids) / 1e6)
    assert held[1] < held[0] * 1.3 + 1 and held[1] < 30, held
