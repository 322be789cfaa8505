"""Two providers at once, step by step: OpenAI's Batch API and Anthropic's Message Batches
(both sides of the emulator), each item routed by its endpoint and model."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from producers.errors import OpenAIError
from producers.status import BatchState
from tests.lifecycle.conftest import Pipeline
from tests.support.items import chat, message
from worker.lifecycle.packing import due_partitions, pack
from worker.lifecycle.submitting import submit


def test_items_of_two_providers_go_to_a_batch_at_each(pipeline: Pipeline) -> None:
    pipeline.producer.submit_many(
        [chat(f"o{n}") for n in range(5)] + [message(f"a{n}") for n in range(7)]
    )
    batch_ids = pipeline.run()
    assert len(batch_ids) == 2
    by_provider = {
        pipeline.store.partitions.get(pipeline.store.batches.get(b).partition).provider: b
        for b in batch_ids
    }
    assert set(by_provider) == {"openai", "anthropic"}
    anthropic = pipeline.store.batches.get(by_provider["anthropic"])
    assert anthropic.provider_id is not None and anthropic.provider_id.startswith("msgbatch_")
    assert anthropic.number("succeeded") == 7 and anthropic.get("provider_status") == "completed"
    result = pipeline.producer.wait("a3", timeout=1)
    assert result["status"] == "succeeded"
    body = result["response"]["body"]
    assert body["type"] == "message" and body["content"][0]["text"]
    assert body["model"] == "claude-haiku-4-5"
    openai = pipeline.producer.wait("o3", timeout=1)
    assert openai["response"]["body"]["choices"][0]["message"]["content"]


def test_item_ids_anthropic_refuses_as_custom_ids_come_back_as_themselves(
    pipeline: Pipeline,
) -> None:
    ids = ["order/1", "x-" + "a" * 40, "a" * 64, "k:v", "ok_id-1", "~!@#$%^&*()"]
    pipeline.producer.submit_many([message(i) for i in ids])
    pipeline.run()
    results = {i: pipeline.producer.result(i) for i in ids}
    assert all(r is not None and r["status"] == "succeeded" for r in results.values()), results
    assert {r["custom_id"] for r in results.values() if r} == set(ids)


def test_anthropic_errors_are_dead_or_retried_by_their_type(pipeline: Pipeline) -> None:
    pipeline.emulator.set_faults(line_400_rate=0.3, line_500_rate=0.3)
    ids = [f"f{n}" for n in range(30)]
    pipeline.producer.submit_many([message(i) for i in ids])
    pipeline.run()
    statuses = {i: pipeline.producer.status(i) for i in ids}
    dead = [i for i, s in statuses.items() if s.outcome == "dead"]
    retried = [i for i, s in statuses.items() if s.state == "queued"]
    succeeded = [i for i, s in statuses.items() if s.outcome == "succeeded"]
    assert dead and retried and succeeded and len(dead + retried + succeeded) == 30
    assert {statuses[i].code for i in dead} == {"invalid_request_error"}
    assert {statuses[i].code for i in retried} == {"api_error"}
    assert all(statuses[i].attempt == 2 for i in retried)


def test_a_cancelled_anthropic_batch_keeps_what_finished_and_retries_the_rest(
    pipeline: Pipeline,
) -> None:
    pipeline.emulator.set_faults(stuck="in_progress")
    ids = [f"c{n}" for n in range(10)]
    pipeline.producer.submit_many([message(i) for i in ids])
    [batch_id] = pipeline.pack_and_submit()
    batch = pipeline.store.batches.get(batch_id)
    assert batch.provider_id is not None
    pipeline.providers.of_batch(batch_id).cancel(batch.provider_id)
    pipeline.poll_until_finished()
    batch = pipeline.store.batches.get(batch_id)
    assert batch.get("provider_status") == "cancelled" and batch.state == BatchState.COLLECTED
    states = pipeline.producer.states(ids)
    assert set(states.values()) == {"queued"}  # none had finished: each goes again
    assert {pipeline.producer.status(i).code for i in ids} == {"batch_cancelled"}


def test_an_unknown_create_outcome_adopts_the_batch_instead_of_a_twin(
    pipeline: Pipeline,
) -> None:
    pipeline.emulator.set_faults(http_500_after_rate=1.0, routes=["POST /v1/messages/batches"])
    ids = [f"u{n}" for n in range(6)]
    pipeline.producer.submit_many([message(i) for i in ids])
    [batch_id] = pipeline.pack_and_submit()
    api = pipeline.providers.of_batch(batch_id)
    listed = list(pipeline.emulator.anthropic_client().messages.batches.list())
    assert len(listed) == 1  # created once, though its answer was a 500
    assert pipeline.store.batches.get(batch_id).provider_id == listed[0].id
    assert pipeline.store.batches.owner(api.name, listed[0].id) == batch_id
    pipeline.emulator.reset()
    pipeline.poll_until_finished()
    pipeline.deliver()
    assert set(pipeline.producer.states(ids).values()) == {"delivered"}


def test_a_batch_another_of_ours_adopted_is_not_taken_for_this_one(pipeline: Pipeline) -> None:
    """Two batches of the same size, both unsure whether their create call worked: each is
    reconciled to its own batch at Anthropic, never to the other's."""
    pipeline.emulator.set_faults(http_500_after_rate=1.0, routes=["POST /v1/messages/batches"])
    pipeline.producer.submit_many([message(f"p{n}", model="claude-sonnet-4-5") for n in range(4)])
    pipeline.producer.submit_many([message(f"q{n}", model="claude-opus-4-1") for n in range(4)])
    time.sleep(0.01)  # both partitions due
    batch_ids = pipeline.pack_and_submit()
    assert len(batch_ids) == 2
    owners = {pipeline.store.batches.get(b).provider_id: b for b in batch_ids}
    assert len(owners) == 2 and None not in owners
    listed = pipeline.emulator.anthropic_client().messages.batches.list()
    assert set(owners) == {b.id for b in listed}


def packed_messages(pipeline: Pipeline, prefix: str, count: int) -> tuple[str, Path]:
    """A packed batch of ``count`` Messages items; its id and file."""
    pipeline.producer.submit_many([message(f"{prefix}{n}") for n in range(count)])
    [tag] = due_partitions(pipeline.store, pipeline.settings, 1e12)
    packed = pack(pipeline.store, pipeline.settings, tag, pipeline.spool)
    assert packed is not None
    return packed.batch_id, packed.path


def test_after_an_unknown_create_no_second_create_is_made_while_the_listing_may_lag(
    pipeline: Pipeline,
) -> None:
    pipeline.emulator.set_faults(http_500_rate=1.0, routes=["POST /v1/messages/batches"])
    batch_id, path = packed_messages(pipeline, "n", 3)
    api = pipeline.providers.of_batch(batch_id)
    anthropic = pipeline.emulator.anthropic_client()
    with pytest.raises(OpenAIError) as raised:
        submit(pipeline.store, api, batch_id, pipeline.spool, path)
    assert raised.value.retryable
    assert pipeline.store.batches.get(batch_id).state == BatchState.UPLOADING
    assert list(anthropic.messages.batches.list()) == []
    pipeline.emulator.reset()
    with pytest.raises(OpenAIError, match="not listed at anthropic yet"):
        submit(pipeline.store, api, batch_id, pipeline.spool, path)
    assert list(anthropic.messages.batches.list()) == []
    # Once the listing had time to show a batch created then, none means none was.
    intent = pipeline.store.batches.get(batch_id).number("create_intent")
    pipeline.store.batches.update(batch_id, create_intent=intent - api.listing_lag)
    assert submit(pipeline.store, api, batch_id, pipeline.spool, path)
    assert len(list(anthropic.messages.batches.list())) == 1


def test_a_create_refused_for_certain_is_tried_again_at_once(pipeline: Pipeline) -> None:
    pipeline.emulator.set_faults(http_429_rate=1.0, routes=["POST /v1/messages/batches"])
    batch_id, path = packed_messages(pipeline, "r", 3)
    api = pipeline.providers.of_batch(batch_id)
    with pytest.raises(OpenAIError) as raised:
        submit(pipeline.store, api, batch_id, pipeline.spool, path)
    assert raised.value.retryable and "429" in str(raised.value)
    assert not pipeline.store.batches.get(batch_id).get("create_intent")
    pipeline.emulator.reset()
    assert submit(pipeline.store, api, batch_id, pipeline.spool, path)


def test_a_strangers_batch_taken_for_ours_is_given_up_and_our_items_requeued(
    pipeline: Pipeline,
) -> None:
    """Another system on the key creates a batch of our size just as our create's outcome is
    unknown: it is adopted by its looks, then found out by its custom_ids, left alone at
    Anthropic, and our items go again without an attempt counted."""
    anthropic = pipeline.emulator.anthropic_client()
    stranger = anthropic.messages.batches.create(
        requests=[
            {
                "custom_id": f"theirs-{n}",
                "params": {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": []},
            }
            for n in range(4)
        ]
    )
    pipeline.emulator.set_faults(http_500_rate=1.0, routes=["POST /v1/messages/batches"])
    batch_id, path = packed_messages(pipeline, "ours", 4)
    api = pipeline.providers.of_batch(batch_id)
    assert submit(pipeline.store, api, batch_id, pipeline.spool, path)
    assert pipeline.store.batches.get(batch_id).provider_id == stranger.id
    pipeline.emulator.reset()
    pipeline.poll_until_finished()
    batch = pipeline.store.batches.get(batch_id)
    assert batch.get("foreign") == "1" and batch.state == BatchState.COLLECTED
    assert pipeline.store.batches.owner(api.name, stranger.id) is None
    statuses = [pipeline.producer.status(f"ours{n}") for n in range(4)]
    assert {(s.state, s.attempt, s.code) for s in statuses} == {("queued", 1, "foreign_batch")}
    assert api.delete_files(batch) == 0  # the stranger's batch stays theirs
    assert anthropic.messages.batches.retrieve(stranger.id).id == stranger.id
    pipeline.run()
    assert set(pipeline.producer.states([f"ours{n}" for n in range(4)]).values()) == {"delivered"}


ACCOUNTS = {
    "providers": {
        "small": {"kind": "openai", "limits": {"max_requests": 4}},
        "budgeted": {"kind": "openai", "token_budgets": {"gpt-4o-mini": 60}},
    },
    "routes": [
        {"models": ["gpt-4o-mini"], "providers": ["budgeted"]},
        {"models": ["*"], "providers": ["small"]},
    ],
}


def test_a_batch_holds_no_more_than_its_provider_takes(pipeline: Pipeline) -> None:
    pipeline = pipeline.reconfigured(providers=orjson.dumps(ACCOUNTS).decode())
    pipeline.producer.submit_many([chat(f"s{n}", model="gpt-4o") for n in range(10)])
    time.sleep(0.01)
    batch_ids: list[str] = []
    while packed := pipeline.pack_and_submit():
        batch_ids += packed
    sizes = sorted(len(pipeline.store.batches.item_ids(b)) for b in batch_ids)
    assert sizes == [2, 4, 4]


def test_a_providers_token_budget_holds_items_back(pipeline: Pipeline) -> None:
    pipeline = pipeline.reconfigured(providers=orjson.dumps(ACCOUNTS).decode())
    # Each item is estimated at some tens of tokens: the budget of 60 takes one batch's worth.
    pipeline.producer.submit_many([chat(f"b{n}") for n in range(3)])
    [first] = pipeline.pack_and_submit()
    assert pipeline.store.batches.get(first).number("tokens") > 0
    pipeline.producer.submit_many([chat(f"c{n}") for n in range(3)])
    time.sleep(0.01)
    assert pipeline.pack_and_submit() == []  # the budget is spent until the first finishes
    pipeline.poll_until_finished()
    time.sleep(0.01)
    assert len(pipeline.pack_and_submit()) == 1
