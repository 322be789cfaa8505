"""Cancel, expiry (real and injected) and batch listing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from emulator.testing import RunningEmulator, running_emulator
from tests.emulator.helpers import chat_lines, read_jsonl, submit, wait_for

EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."


def wait_for_progress(client: openai.OpenAI, batch_id: str, at_least: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.request_counts and batch.request_counts.completed >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError("no progress")


def test_cancel_keeps_partial_output(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = chat_lines(40)
    batch = submit(client, tmp_path, rows, metadata={"emulator_batch_seconds": "4"})
    wait_for_progress(client, batch.id, at_least=2)

    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    done = wait_for(client, batch.id)

    assert done.status == "cancelled" and done.cancelled_at is not None
    assert done.completed_at is None
    outputs = read_jsonl(client, done.output_file_id)
    errors = read_jsonl(client, done.error_file_id)
    assert done.request_counts is not None
    assert 2 <= len(outputs) == done.request_counts.completed < len(rows)
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    assert all(e["response"] is None for e in errors)
    assert {r["custom_id"] for r in outputs + errors} == {r["custom_id"] for r in rows}
    assert len(outputs) + len(errors) == len(rows)


def test_cancel_of_a_finished_batch_is_409(client: openai.OpenAI, tmp_path: Path) -> None:
    batch = submit(client, tmp_path, chat_lines(2))
    assert wait_for(client, batch.id).status == "completed"
    with pytest.raises(openai.ConflictError) as caught:
        client.with_options(max_retries=0).batches.cancel(batch.id)
    assert caught.value.status_code == 409


def test_cancel_of_an_unknown_batch_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.batches.cancel("batch_missing")


def test_injected_expiry_keeps_the_finished_fraction(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = chat_lines(20)
    batch = submit(client, tmp_path, rows, metadata={"emulator_expire_fraction": "0.5"})
    done = wait_for(client, batch.id)

    assert done.status == "expired" and done.expired_at is not None
    assert done.in_progress_at is not None and done.completed_at is None
    outputs = read_jsonl(client, done.output_file_id)
    errors = read_jsonl(client, done.error_file_id)
    assert len(outputs) == 10 and len(errors) == 10
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert {e["error"]["message"] for e in errors} == {EXPIRED_MESSAGE}
    assert {r["custom_id"] for r in outputs + errors} == {r["custom_id"] for r in rows}


@pytest.fixture(scope="module")
def short_window() -> Iterator[RunningEmulator]:
    with running_emulator(window_seconds=1.5, batch_seconds=6, validating_seconds=0.05) as emu:
        yield emu


def test_the_completion_window_really_expires(
    short_window: RunningEmulator, tmp_path: Path
) -> None:
    client = short_window.client()
    rows = chat_lines(30)
    batch = submit(client, tmp_path, rows)
    assert batch.expires_at is not None and batch.expires_at - batch.created_at in (1, 2)

    seen = [batch.status]
    while (current := client.batches.retrieve(batch.id)).status not in ("expired", "completed"):
        if current.status not in seen:
            seen.append(current.status)
        time.sleep(0.05)

    assert seen == ["validating", "in_progress"] and current.status == "expired"
    assert current.request_counts is not None
    outputs = read_jsonl(client, current.output_file_id)
    errors = read_jsonl(client, current.error_file_id)
    assert 0 < len(outputs) == current.request_counts.completed < len(rows)
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert len(outputs) + len(errors) == len(rows)


def test_list_paginates_newest_first(emu: RunningEmulator, tmp_path: Path) -> None:
    emu.reset(data=True)
    client = emu.client()
    created = [submit(client, tmp_path, chat_lines(1), name=f"{i}.jsonl").id for i in range(5)]
    newest_first = created[::-1]

    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == newest_first[:2]
    assert first.has_more is True
    second = client.batches.list(limit=2, after=first.data[-1].id)
    assert [b.id for b in second.data] == newest_first[2:4]
    last = client.batches.list(limit=2, after=second.data[-1].id)
    assert [b.id for b in last.data] == newest_first[4:]
    assert last.has_more is False

    raw = client.batches.with_raw_response.list(limit=3).http_response.json()
    assert raw["object"] == "list"
    assert (raw["first_id"], raw["last_id"]) == (newest_first[0], newest_first[2])

    assert [b.id for b in client.batches.list(limit=2)] == newest_first
    assert [b.id for b in client.batches.list()] == newest_first


def test_list_limit_out_of_range_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.list(limit=101)
    assert caught.value.param == "limit"
