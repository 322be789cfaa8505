"""Bad batch input files, as OpenAI answers them: the batch ends `failed` with line-numbered
`errors` (or the upload is refused), and nothing of it is enqueued. No worker is needed: the
gateway's janitor validates at create."""

from __future__ import annotations

import io
from typing import Any

import openai
import orjson
import pytest
from redis import Redis

from tests.gateway.conftest import jsonl
from tests.support.waiting import wait_for


def create(client: openai.OpenAI, data: bytes) -> Any:
    uploaded = client.files.create(file=("input.jsonl", io.BytesIO(data)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "validating"
    wait_for(lambda: client.batches.retrieve(batch.id).status == "failed", 20, "batch failed")
    return client.batches.retrieve(batch.id)


def codes(batch: Any) -> list[tuple[str, int | None]]:
    return [(error.code, error.line) for error in batch.errors.data]


def test_a_csv_file_is_not_jsonl(acme: openai.OpenAI, redis: Redis) -> None:
    failed = create(acme, b"custom_id,prompt\nr1,hello\nr2,world\n")
    assert codes(failed) == [
        ("invalid_json_line", 1),
        ("invalid_json_line", 2),
        ("invalid_json_line", 3),
    ]
    assert failed.failed_at and failed.request_counts.total == 0
    assert not redis.keys("br:{*}:item:*")


@pytest.mark.parametrize("line", [b"[1, 2]", b'"a string"', b"42", b"null"])
def test_a_line_that_is_not_an_object(acme: openai.OpenAI, line: bytes) -> None:
    failed = create(acme, jsonl(2) + line + b"\n")
    assert codes(failed) == [("invalid_json_line", 3)]


def test_a_file_of_blank_lines_has_no_requests(acme: openai.OpenAI, redis: Redis) -> None:
    failed = create(acme, b"\n\n  \n")
    assert codes(failed) == [("empty_file", None)]
    assert not redis.keys("br:{*}:item:*")


def test_an_empty_upload_is_refused(acme: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        acme.files.create(file=("input.jsonl", io.BytesIO(b"")), purpose="batch")
    assert refused.value.code == "empty_file"


def test_a_body_that_is_not_a_request(acme: openai.OpenAI) -> None:
    line = (
        b'{"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", '
        b'"body": {"messages": []}}'
    )
    failed = create(acme, line + b"\n")
    [error] = failed.errors.data
    assert (error.code, error.line, error.param) == ("invalid_request", 1, "body.model")


def test_mixed_models_in_one_file_are_taken(acme: openai.OpenAI, redis: Redis) -> None:
    """Unlike OpenAI, one file may mix models: each model's lines get a partition of their own."""
    lines = [
        orjson.dumps(
            {
                "custom_id": f"m-{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": model, "messages": [{"role": "user", "content": "hi"}]},
            }
        )
        for n, model in enumerate(["gpt-4o-mini", "gpt-4o", "gpt-4o-mini"])
    ]
    uploaded = acme.files.create(file=("in.jsonl", io.BytesIO(b"\n".join(lines))), purpose="batch")
    batch = acme.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    wait_for(lambda: acme.batches.retrieve(batch.id).status == "in_progress", 20, "enqueued")
    models = {orjson.loads(entry)["model"] for entry in redis.hvals("br:partitions")}
    assert models == {"gpt-4o-mini", "gpt-4o"}


def test_embeddings_lines_count_their_inputs(acme: openai.OpenAI, redis: Redis) -> None:
    line = {
        "custom_id": "e-1",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "text-embedding-3-small", "input": ["a", "b", "c"]},
    }
    uploaded = acme.files.create(file=("in.jsonl", io.BytesIO(orjson.dumps(line))), purpose="batch")
    batch = acme.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
    )
    wait_for(lambda: acme.batches.retrieve(batch.id).status == "in_progress", 20, "enqueued")
    [item_key] = redis.keys("br:{*}:item:*")
    assert redis.hget(item_key, "inputs") == b"3"


def test_a_window_results_would_outlive_is_refused(acme: openai.OpenAI) -> None:
    uploaded = acme.files.create(file=("in.jsonl", io.BytesIO(jsonl(1))), purpose="batch")
    with pytest.raises(openai.BadRequestError) as refused:
        acme.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="168h",  # type: ignore[arg-type]  # the result TTL is 7 days
        )
    assert refused.value.param == "completion_window"
    assert "BATCHRELAY_RESULT_TTL" in refused.value.message


def test_only_a_batch_file_is_a_batch_input(acme: openai.OpenAI, redis: Redis) -> None:
    uploaded = acme.files.create(file=("in.jsonl", io.BytesIO(jsonl(1))), purpose="batch")
    redis.hset(f"br:gw:file:{uploaded.id}", "purpose", "batch_output")  # as an output file
    with pytest.raises(openai.BadRequestError) as refused:
        acme.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert refused.value.param == "input_file_id" and "batch_output" in refused.value.message


def test_an_input_file_is_not_deleted_while_its_batch_validates(
    acme: openai.OpenAI, redis: Redis
) -> None:
    uploaded = acme.files.create(file=("in.jsonl", io.BytesIO(jsonl(1))), purpose="batch")
    # A batch that is reading the file right now (its janitor holds it in validating).
    redis.hset("br:gw:batch:batch_reading", "status", "validating")
    redis.hset(f"br:gw:file:{uploaded.id}", "validating", "batch_reading")
    with pytest.raises(openai.ConflictError) as refused:
        acme.files.delete(uploaded.id)
    assert refused.value.code == "file_in_use"
    redis.hset("br:gw:batch:batch_reading", "status", "in_progress")
    assert acme.files.delete(uploaded.id).deleted


def test_a_batch_lets_its_file_go_once_validated(acme: openai.OpenAI, redis: Redis) -> None:
    uploaded = acme.files.create(file=("in.jsonl", io.BytesIO(jsonl(2))), purpose="batch")
    batch = acme.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    wait_for(lambda: acme.batches.retrieve(batch.id).status == "in_progress", 20, "enqueued")
    assert redis.hget(f"br:gw:file:{uploaded.id}", "validating") is None
    assert acme.files.delete(uploaded.id).deleted
