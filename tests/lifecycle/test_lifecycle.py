"""Submit, pack, upload and create, poll, collect, retry, deliver and clean up, step by step
in this process (tests/lifecycle/conftest.py): the lifecycle's rules, checked in seconds."""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel

from emulator.textgen import REFUSE
from producers import Callback, parse_result, structured_item
from producers.status import BatchState
from tests.lifecycle.conftest import Pipeline
from tests.support.items import chat
from worker.lifecycle.files import clean_up

CALLBACK = Callback.celery("svc.done", queue="results")


def test_items_go_through_one_batch_and_reach_their_callbacks(pipeline: Pipeline) -> None:
    items = [chat(f"i{n}", callback=CALLBACK if n % 2 else None) for n in range(20)]
    pipeline.producer.submit_many(items)
    [batch_id] = pipeline.run()
    batch = pipeline.store.batches.get(batch_id)
    assert batch.state == BatchState.COLLECTED and batch.number("succeeded") == 20
    states = pipeline.producer.states([f"i{n}" for n in range(20)])
    assert set(states.values()) == {"delivered"}
    assert sorted(s.result["id"] for s in pipeline.sent) == sorted(f"i{n}" for n in range(1, 20, 2))
    assert {s.key for s in pipeline.sent} == {f"i{n}:1" for n in range(1, 20, 2)}
    assert {(s.task, s.queue) for s in pipeline.sent} == {("svc.done", "results")}
    result = pipeline.producer.wait("i4", timeout=1)
    assert result["status"] == "succeeded" and result["batch_id"] == batch_id
    assert result["response"]["body"]["choices"][0]["message"]["content"]


def test_an_expired_batch_keeps_its_finished_lines_and_retries_the_rest(
    pipeline: Pipeline,
) -> None:
    pipeline.emulator.set_faults(expire_fraction=0.5)
    ids = [f"e{n}" for n in range(10)]
    pipeline.producer.submit_many([chat(i) for i in ids])
    [first] = pipeline.run()
    assert pipeline.store.batches.get(first).get("provider_status") == "expired"
    statuses = {i: pipeline.producer.status(i) for i in ids}
    finished = [i for i, s in statuses.items() if s.state == "delivered"]
    retried = [i for i, s in statuses.items() if s.state == "queued"]
    assert len(finished) == 5 and len(retried) == 5
    assert all(statuses[i].attempt == 2 and statuses[i].code == "batch_expired" for i in retried)
    pipeline.emulator.reset()
    [second] = pipeline.run()  # the retries, in a batch of their own
    assert pipeline.store.batches.item_ids(second) == sorted(retried, key=ids.index)
    results = {i: pipeline.producer.result(i) for i in ids}
    assert all(r is not None and r["status"] == "succeeded" for r in results.values())
    assert {results[i]["attempt"] for i in retried} == {2}  # type: ignore[index]


def test_token_limit_exceeded_requeues_without_an_attempt_and_backs_off(
    pipeline: Pipeline,
) -> None:
    pipeline.emulator.set_faults(fault="token_limit_exceeded")
    ids = [f"t{n}" for n in range(5)]
    pipeline.producer.submit_many([chat(i) for i in ids])
    [batch_id] = pipeline.run()
    assert pipeline.store.batches.get(batch_id).get("error_code") == "token_limit_exceeded"
    assert {pipeline.producer.status(i).attempt for i in ids} == {1}
    budget = pipeline.store.partitions.budget(pipeline.store.partitions.all()[0])
    assert budget["token_strikes"] == "1" and float(budget["backoff_until"]) > 0


def test_the_lines_a_batch_failed_validation_for_are_dead_the_rest_retried(
    pipeline: Pipeline,
) -> None:
    good = [chat(f"g{n}") for n in range(3)]
    bad = [chat(f"x{n}", model="text-embedding-3-small") for n in range(2)]
    pipeline.producer.submit_many(good + bad)  # two partitions, one of them refused
    pipeline.run()
    dead = {i: pipeline.producer.status(i) for i in ("x0", "x1")}
    assert all(s.outcome == "dead" and (s.message or "").startswith("line ") for s in dead.values())
    assert {pipeline.producer.status(f"g{n}").state for n in range(3)} == {"delivered"}


def test_a_finished_batchs_files_are_deleted_a_lease_after_it_finished(
    pipeline: Pipeline,
) -> None:
    pipeline.producer.submit_many([chat(f"f{n}") for n in range(3)])
    pipeline.run()
    remote = pipeline.emulator.client()
    assert len(remote.files.list().data) == 2  # the input and the output
    now = time.time()
    early = clean_up(pipeline.store, pipeline.providers, pipeline.settings, now)
    assert early.deleted == 0 and len(remote.files.list().data) == 2  # within the grace
    later = clean_up(pipeline.store, pipeline.providers, pipeline.settings, now + 10)
    assert later.deleted == 2 and remote.files.list().data == []
    assert pipeline.store.files.awaiting_cleanup() == 0


class Review(BaseModel):
    sentiment: Literal["positive", "negative"]
    score: float
    keywords: list[str]


def test_structured_items_come_back_as_their_model(pipeline: Pipeline) -> None:
    asks = [{"role": "user", "content": "Classify: great!"}]
    refuse = [{"role": "user", "content": REFUSE}]
    pipeline.producer.submit_many(
        [
            structured_item("chat", Review, model="gpt-4o-mini", messages=asks, callback=CALLBACK),
            structured_item("resp", Review, model="gpt-4o-mini", endpoint="/v1/responses",
                            input="Classify: great!"),
            structured_item("no", Review, model="gpt-4o-mini", messages=refuse),
        ]
    )  # fmt: skip
    while len(pipeline.run()) < 2:  # chat and Responses items are two partitions
        pass
    for item_id in ("chat", "resp"):
        parsed = parse_result(pipeline.producer.wait(item_id, timeout=1), Review)
        assert isinstance(parsed.value, Review), parsed
    refused = parse_result(pipeline.producer.wait("no", timeout=1), Review)
    assert refused.value is None and refused.refusal
    # A Celery callback's argument (and a webhook's body) is the same result: it parses too.
    [sent] = pipeline.sent
    assert isinstance(parse_result(sent.result, Review).value, Review)
