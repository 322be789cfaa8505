"""Injected faults: HTTP 429/500, per-line errors in both shapes, whole-batch failures, time."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import openai
import pytest

from emulator.testing import RunningEmulator
from tests.emulator.helpers import by_custom_id, chat_lines, read_jsonl, submit, wait_for


def test_429_carries_retry_after(emu: RunningEmulator) -> None:
    emu.set_faults(http_429_rate=1.0, retry_after_seconds=2)
    response = httpx.get(emu.base_url + "/batches", headers={"authorization": "Bearer k"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError):
        emu.client(max_retries=0).batches.list()


def test_sdk_retries_get_through_a_partial_429_rate(emu: RunningEmulator, tmp_path: Path) -> None:
    emu.set_faults(http_429_rate=0.5, retry_after_seconds=0.01)
    client = emu.client(max_retries=12)
    retries = 0
    for _ in range(20):
        raw = client.batches.with_raw_response.list(limit=1)
        retries += raw.retries_taken
        raw.parse()
    batch = submit(client, tmp_path, chat_lines(3))
    assert wait_for(client, batch.id).status == "completed"
    assert retries > 0


def test_500_on_chosen_routes_only(emu: RunningEmulator) -> None:
    emu.set_faults(http_500_rate=1.0, routes=["POST /v1/batches", "/v1/files/*/content"])
    client = emu.client(max_retries=0)
    client.batches.list()
    client.files.list()
    with pytest.raises(openai.InternalServerError):
        client.batches.create(
            input_file_id="file-x", endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(openai.InternalServerError):
        client.files.content("file-x")


def test_500_after_the_work_is_done(emu: RunningEmulator, tmp_path: Path) -> None:
    client = emu.client(max_retries=0)
    before = {b.id for b in client.batches.list()}
    emu.set_faults(http_500_after_rate=1.0, routes=["POST /v1/batches"])
    with pytest.raises(openai.InternalServerError):
        submit(client, tmp_path, chat_lines(1), metadata={"intent": "lost-answer"})
    emu.reset()
    created = [b for b in client.batches.list() if b.id not in before]
    assert [b.metadata for b in created] == [{"intent": "lost-answer"}]


def test_per_line_errors_in_both_shapes(emu: RunningEmulator, tmp_path: Path) -> None:
    emu.set_faults(line_500_rate=0.2, line_429_rate=0.2, line_400_rate=0.2, line_error_rate=0.2)
    client = emu.client()
    rows = chat_lines(200)
    done = wait_for(client, submit(client, tmp_path, rows).id)

    assert done.status == "completed" and done.request_counts is not None
    outputs = read_jsonl(client, done.output_file_id)
    errors = read_jsonl(client, done.error_file_id)
    assert len(outputs) == done.request_counts.completed
    assert len(errors) == done.request_counts.failed
    assert len(outputs) + len(errors) == len(rows)
    statuses = Counter(e["response"]["status_code"] for e in errors if e["response"])
    assert set(statuses) == {400, 429, 500}
    for error in errors:
        if error["response"] is None:
            assert error["error"] == {"code": "server_error", "message": error["error"]["message"]}
        else:
            assert error["error"] is None
            assert error["response"]["body"]["error"]["message"]
    assert any(e["response"] is None for e in errors)
    assert 15 < len(outputs) < 70


def test_per_line_errors_through_metadata(client: openai.OpenAI, tmp_path: Path) -> None:
    batch = submit(client, tmp_path, chat_lines(50), metadata={"emulator_line_error_rate": "1"})
    done = wait_for(client, batch.id)
    errors = read_jsonl(client, done.error_file_id)
    assert len(errors) == 50 and all(e["response"] is None for e in errors)


def test_all_lines_failed_is_completed_without_output_file(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    emu.set_faults(line_500_rate=1.0)
    client = emu.client()
    done = wait_for(client, submit(client, tmp_path, chat_lines(5)).id)
    assert done.status == "completed"
    assert done.output_file_id is None and done.error_file_id is not None
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (0, 5)
    errors = by_custom_id(read_jsonl(client, done.error_file_id))
    assert {e["response"]["status_code"] for e in errors.values()} == {500}


@pytest.mark.parametrize("how", ["control-api", "metadata"])
def test_token_limit_exceeded_arrives_after_a_successful_create(
    emu: RunningEmulator, tmp_path: Path, how: str
) -> None:
    metadata = None
    if how == "control-api":
        emu.set_faults(fault="token_limit_exceeded")
    else:
        metadata = {"emulator_fault": "token_limit_exceeded"}
    client = emu.client()
    batch = submit(client, tmp_path, chat_lines(3), metadata=metadata)
    assert batch.status == "validating"

    done = wait_for(client, batch.id)
    assert done.status == "failed" and done.in_progress_at is None
    assert done.errors is not None and done.errors.data
    assert done.errors.data[0].code == "token_limit_exceeded"
    assert done.output_file_id is None and done.error_file_id is None


def test_slow_finalizing(client: openai.OpenAI, tmp_path: Path) -> None:
    batch = submit(client, tmp_path, chat_lines(3), metadata={"emulator_finalize_seconds": "1.5"})
    wait_for(client, batch.id, ("finalizing",))
    started = time.monotonic()
    done = wait_for(client, batch.id)
    assert done.status == "completed"
    assert time.monotonic() - started > 1.0


def test_stuck_in_validating_until_cancelled(client: openai.OpenAI, tmp_path: Path) -> None:
    batch = submit(client, tmp_path, chat_lines(3), metadata={"emulator_stuck": "validating"})
    time.sleep(1.0)
    assert client.batches.retrieve(batch.id).status == "validating"

    assert client.batches.cancel(batch.id).status == "cancelling"
    done = wait_for(client, batch.id)
    assert done.status == "cancelled" and done.in_progress_at is None
    assert done.output_file_id is None and done.error_file_id is None


def test_faults_control_api_merges_validates_and_resets(emu: RunningEmulator) -> None:
    emu.set_faults(line_500_rate=0.1)
    merged = emu.set_faults(http_429_rate=0.2)
    assert (merged["line_500_rate"], merged["http_429_rate"]) == (0.1, 0.2)
    assert emu.faults() == merged

    bad = httpx.post(emu.url + "/_emulator/faults", json={"line_500_rate": 2})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "line_500_rate"
    unknown = httpx.post(emu.url + "/_emulator/faults", json={"no_such_fault": 1})
    assert unknown.status_code == 400

    emu.reset()
    assert emu.faults()["line_500_rate"] == 0.0


def test_seeded_line_faults_repeat_after_a_reset(emu: RunningEmulator, tmp_path: Path) -> None:
    def failing_ids() -> set[str]:
        emu.reset()
        emu.set_faults(line_500_rate=0.5)
        client = emu.client()
        done = wait_for(client, submit(client, tmp_path, chat_lines(30)).id)
        return {e["custom_id"] for e in read_jsonl(client, done.error_file_id)}

    first, second = failing_ids(), failing_ids()
    assert first == second and 0 < len(first) < 30
