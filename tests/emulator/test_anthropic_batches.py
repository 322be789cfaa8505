"""Message Batches through the `anthropic` SDK: create, retrieve, list, cancel, delete, results."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anthropic
import pytest

from emulator.testing import InProcessEmulator, in_process_emulator
from tests.emulator.anthropic_helpers import (
    FAST,
    create,
    params,
    raw,
    request,
    requests,
    results,
    wait_ended,
)


@pytest.fixture
def emulator() -> Iterator[InProcessEmulator]:
    with in_process_emulator(**FAST) as running:
        yield running


@pytest.fixture
def client(emulator: InProcessEmulator) -> anthropic.Anthropic:
    return emulator.anthropic_client()


def test_a_batch_runs_to_ended_with_one_result_per_request(
    emulator: InProcessEmulator, client: anthropic.Anthropic
) -> None:
    rows = requests(30)
    batch = create(client, rows)

    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 30 and batch.request_counts.succeeded == 0
    assert batch.expires_at - batch.created_at == timedelta(days=1)
    assert (
        batch.ended_at is None and batch.cancel_initiated_at is None and batch.archived_at is None
    )

    done = wait_ended(client, batch.id)
    assert done.request_counts.model_dump() == {
        "processing": 0,
        "succeeded": 30,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert done.ended_at is not None and done.ended_at > done.created_at
    assert done.results_url == f"{emulator.url}/v1/messages/batches/{batch.id}/results"

    lines = list(client.messages.batches.results(batch.id))
    assert sorted(line.custom_id for line in lines) == sorted(r["custom_id"] for r in rows)
    assert [line.custom_id for line in lines] != [r["custom_id"] for r in rows]
    first = next(line for line in lines if line.custom_id == "req-0").result
    assert first.type == "succeeded" and first.message.usage.service_tier == "batch"
    realtime = client.messages.create(**rows[0]["params"])
    assert first.message.content == realtime.content

    response = raw(emulator, "GET", f"/v1/messages/batches/{batch.id}/results")
    assert response.headers["content-type"] == "application/x-jsonl"
    assert len(response.text.splitlines()) == 30


def test_bad_params_come_back_as_errored_results(client: anthropic.Anthropic) -> None:
    rows = [
        request("good"),
        {"custom_id": "no-max-tokens", "params": {"model": "m", "messages": []}},
        {"custom_id": "zero-tokens", "params": params("hi", max_tokens=0)},
        {"custom_id": "streaming", "params": params("hi", stream=True)},
        {"custom_id": "bad-messages", "params": params("hi", messages="hello")},
    ]
    done = wait_ended(client, create(client, rows).id)

    assert (done.request_counts.succeeded, done.request_counts.errored) == (1, 4)
    by_id = results(client, done.id)
    messages = {}
    for custom_id, line in by_id.items():
        if line.result.type == "errored":
            assert line.result.error.type == "error"
            assert line.result.error.error.type == "invalid_request_error"
            messages[custom_id] = line.result.error.error.message
    assert messages["no-max-tokens"] == "max_tokens: Field required"
    assert messages["zero-tokens"].startswith("max_tokens: ")
    assert "Streaming" in messages["streaming"]
    assert messages["bad-messages"].startswith("messages: ")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([request("has space")], "requests.0.custom_id: String should match pattern"),
        ([request("a" * 65)], "requests.0.custom_id: String should match pattern"),
        ([request("")], "requests.0.custom_id: String should match pattern"),
        ([request("ok"), request("ok")], "requests.1.custom_id: Duplicate custom_id 'ok'"),
        ([{"custom_id": "x"}], "requests.0.params: Field required"),
        ([], "requests: List should have at least 1 item"),
    ],
)
def test_bad_requests_are_refused_at_create(
    client: anthropic.Anthropic, rows: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        create(client, rows)
    assert caught.value.type == "invalid_request_error"
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["message"].startswith(message)
    assert client.messages.batches.list().data == []


def test_over_the_request_or_byte_limit_is_413() -> None:
    with in_process_emulator(max_message_batch_requests=3, max_message_batch_bytes=4000) as emu:
        client = emu.anthropic_client(max_retries=0)
        create(client, requests(3))
        with pytest.raises(anthropic.ContentTooLargeError) as too_many:
            create(client, requests(4))
        with pytest.raises(anthropic.ContentTooLargeError) as too_big:
            create(client, [request("big", "x" * 5000)])
    # The SDK's error types leave out request_too_large; Anthropic's error docs list it.
    for caught in (too_many.value, too_big.value):
        assert caught.status_code == 413 and isinstance(caught.body, dict)
        assert caught.body["error"]["type"] == "request_too_large"


def test_list_pages_both_ways_newest_first(
    emulator: InProcessEmulator, client: anthropic.Anthropic
) -> None:
    newest_first = [create(client, requests(1)).id for _ in range(5)][::-1]

    first = client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == newest_first[:2] and first.has_more is True
    assert (first.first_id, first.last_id) == (newest_first[0], newest_first[1])
    after = client.messages.batches.list(limit=2, after_id=newest_first[1])
    assert [b.id for b in after.data] == newest_first[2:4] and after.has_more is True
    last = client.messages.batches.list(limit=2, after_id=newest_first[3])
    assert [b.id for b in last.data] == newest_first[4:] and last.has_more is False

    before = client.messages.batches.list(limit=2, before_id=newest_first[4])
    assert [b.id for b in before.data] == newest_first[2:4] and before.has_more is True
    assert [b.id for b in client.messages.batches.list(limit=2)] == newest_first
    backwards = client.messages.batches.list(limit=2, before_id=newest_first[4])
    assert [b.id for b in backwards] == newest_first[2:4] + newest_first[:2]

    for limit in (0, 1001):
        with pytest.raises(anthropic.BadRequestError):
            client.messages.batches.list(limit=limit)
    both = raw(emulator, "GET", "/v1/messages/batches?before_id=a&after_id=b")
    assert both.status_code == 400 and both.json()["error"]["type"] == "invalid_request_error"
    assert emulator.client().batches.list().data == [] and emulator.client().files.list().data == []
    assert sum(emulator.info()["message_batches_by_status"].values()) == 5

    emulator.reset(data=True)
    assert client.messages.batches.list().data == []
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(newest_first[0])


def test_cancel_goes_through_canceling_to_ended(
    emulator: InProcessEmulator, client: anthropic.Anthropic
) -> None:
    emulator.set_faults(batch_seconds=4)
    batch_id = create(client, requests(40)).id
    time.sleep(0.5)

    canceling = client.messages.batches.cancel(batch_id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None and canceling.ended_at is None
    done = wait_ended(client, batch_id)

    counts = done.request_counts
    assert counts.succeeded > 0 and counts.canceled > 0 and counts.processing == 0
    assert counts.succeeded + counts.canceled == 40
    types = [line.result.type for line in results(client, batch_id).values()]
    assert (
        types.count("canceled") == counts.canceled and types.count("succeeded") == counts.succeeded
    )

    again = client.messages.batches.cancel(batch_id)
    assert again.model_dump() == done.model_dump()


def test_slow_canceling(emulator: InProcessEmulator, client: anthropic.Anthropic) -> None:
    emulator.set_faults(batch_seconds=4, cancel_seconds=0.8)
    batch_id = create(client, requests(10)).id
    started = time.monotonic()
    client.messages.batches.cancel(batch_id)
    time.sleep(0.4)
    assert client.messages.batches.retrieve(batch_id).processing_status == "canceling"
    assert wait_ended(client, batch_id).request_counts.canceled > 0
    assert time.monotonic() - started >= 0.8


def test_delete_only_once_ended(emulator: InProcessEmulator, client: anthropic.Anthropic) -> None:
    emulator.set_faults(batch_seconds=4)
    batch_id = create(client, requests(5)).id
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.batches.delete(batch_id)
    assert caught.value.type == "invalid_request_error"

    client.messages.batches.cancel(batch_id)
    wait_ended(client, batch_id)
    deleted = client.messages.batches.delete(batch_id)
    assert (deleted.id, deleted.type) == (batch_id, "message_batch_deleted")
    for gone in (client.messages.batches.retrieve, client.messages.batches.delete):
        with pytest.raises(anthropic.NotFoundError) as missing:
            gone(batch_id)
        assert missing.value.type == "not_found_error"


def test_results_only_once_ended(emulator: InProcessEmulator, client: anthropic.Anthropic) -> None:
    emulator.set_faults(batch_seconds=4)
    batch_id = create(client, requests(5)).id
    with pytest.raises(anthropic.AnthropicError, match="results_url"):
        client.messages.batches.results(batch_id)
    early = raw(emulator, "GET", f"/v1/messages/batches/{batch_id}/results")
    assert early.status_code == 404 and early.json()["error"]["type"] == "not_found_error"

    client.messages.batches.cancel(batch_id)
    wait_ended(client, batch_id)
    assert len(results(client, batch_id)) == 5


def test_line_faults_and_expiry_give_every_result_type(
    emulator: InProcessEmulator, client: anthropic.Anthropic
) -> None:
    emulator.set_faults(
        line_400_rate=0.15,
        line_429_rate=0.15,
        line_500_rate=0.15,
        line_error_rate=0.15,
        expire_fraction=0.75,
    )
    done = wait_ended(client, create(client, requests(80)).id)
    lines = list(results(client, done.id).values())

    counts = done.request_counts
    assert counts.expired == 20 and counts.canceled == 0 and counts.processing == 0
    assert counts.succeeded > 0 and counts.errored > 0
    assert counts.succeeded + counts.errored == 60
    assert sum(1 for line in lines if line.result.type == "expired") == 20
    error_types = {line.result.error.error.type for line in lines if line.result.type == "errored"}
    assert error_types == {
        "invalid_request_error",
        "rate_limit_error",
        "api_error",
        "overloaded_error",
    }


def test_the_window_really_expires() -> None:
    with in_process_emulator(window_seconds=0.6, batch_seconds=5, seed=1) as emulator:
        client = emulator.anthropic_client()
        batch = create(client, requests(30))
        assert batch.expires_at - batch.created_at == timedelta(seconds=0.6)
        done = wait_ended(client, batch.id)
        lines = results(client, batch.id)
    counts = done.request_counts
    assert 0 < counts.succeeded < 30 and counts.succeeded + counts.expired == 30
    assert {line.result.type for line in lines.values()} == {"succeeded", "expired"}


def test_results_lines_match_the_sdk_types(
    emulator: InProcessEmulator, client: anthropic.Anthropic
) -> None:
    done = wait_ended(client, create(client, [request("one"), request("two", max_tokens=0)]).id)
    text = raw(emulator, "GET", f"/v1/messages/batches/{done.id}/results").text
    by_id = {line["custom_id"]: line["result"] for line in map(json.loads, text.splitlines())}
    assert set(by_id["one"]) == {"type", "message"}
    assert by_id["two"] == {
        "type": "errored",
        "error": {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "max_tokens: Input should be greater than or equal to 1",
            },
        },
    }
