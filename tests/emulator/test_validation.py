"""Input validation: asynchronous `failed` batches with line numbers, and synchronous 400s."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types import Batch

from tests.emulator.helpers import chat_line, chat_lines, submit, upload, wait_for, write_jsonl


def failed_batch(client: openai.OpenAI, tmp_path: Path, rows: list[Any], **kw: Any) -> Batch:
    batch = submit(client, tmp_path, rows, **kw)
    assert batch.status == "validating"
    done = wait_for(client, batch.id)
    assert done.status == "failed", done
    assert done.failed_at is not None and done.in_progress_at is None
    assert done.output_file_id is None and done.error_file_id is None
    assert done.errors is not None and done.errors.object == "list"
    return done


def errors_of(batch: Batch) -> list[tuple[str | None, int | None]]:
    assert batch.errors is not None and batch.errors.data is not None
    for error in batch.errors.data:
        assert error.message
    return [(e.code, e.line) for e in batch.errors.data]


def test_invalid_json_line(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = [chat_line("a", "hi"), '{"custom_id": "b", "method": ', chat_line("c", "hi")]
    assert errors_of(failed_batch(client, tmp_path, rows)) == [("invalid_json_line", 2)]


@pytest.mark.parametrize("missing", ["custom_id", "method", "url", "body"])
def test_missing_required_parameter(client: openai.OpenAI, tmp_path: Path, missing: str) -> None:
    broken = chat_line("b", "hi")
    del broken[missing]
    done = failed_batch(client, tmp_path, [chat_line("a", "hi"), chat_line("c", "hi"), broken])
    assert errors_of(done) == [("missing_required_parameter", 3)]
    assert done.errors is not None and done.errors.data is not None
    assert done.errors.data[0].param == missing


def test_line_url_must_match_the_batch_endpoint(client: openai.OpenAI, tmp_path: Path) -> None:
    stray = {**chat_line("b", "hi"), "url": "/v1/embeddings"}
    done = failed_batch(client, tmp_path, [chat_line("a", "hi"), stray])
    assert errors_of(done) == [("invalid_url", 2)]


def test_duplicate_custom_id(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = [chat_line("a", "hi"), chat_line("b", "hi"), chat_line("a", "again")]
    assert errors_of(failed_batch(client, tmp_path, rows)) == [("duplicate_custom_id", 3)]


def test_more_than_one_model(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = [chat_line("a", "hi"), chat_line("b", "hi", model="gpt-4o")]
    assert errors_of(failed_batch(client, tmp_path, rows)) == [("model_mismatch", 2)]


def test_model_not_supported_on_the_endpoint(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = [chat_line("a", "hi", model="text-embedding-3-small")]
    assert errors_of(failed_batch(client, tmp_path, rows)) == [("model_not_found", 1)]


def test_stream_true_is_refused(client: openai.OpenAI, tmp_path: Path) -> None:
    streaming = chat_line("b", "hi")
    streaming["body"]["stream"] = True
    done = failed_batch(client, tmp_path, [chat_line("a", "hi"), streaming])
    assert errors_of(done) == [("unsupported_value", 2)]


def test_empty_file(client: openai.OpenAI, tmp_path: Path) -> None:
    assert errors_of(failed_batch(client, tmp_path, [])) == [("empty_file", None)]


def test_more_than_50000_requests(client: openai.OpenAI, tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("w") as out:
        for i in range(50_001):
            out.write(json.dumps(chat_line(f"r{i}", "x")) + "\n")
    batch = client.batches.create(
        input_file_id=upload(client, path), endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait_for(client, batch.id, timeout=60)
    assert done.status == "failed"
    assert errors_of(done) == [("too_many_tasks", 50_001)]


def test_more_than_50000_embedding_inputs(client: openai.OpenAI, tmp_path: Path) -> None:
    def embedding(custom_id: str, count: int) -> dict[str, Any]:
        body = {"model": "text-embedding-3-small", "input": ["a"] * count}
        return {"custom_id": custom_id, "method": "POST", "url": "/v1/embeddings", "body": body}

    rows = [embedding("a", 25_000), embedding("b", 20_000), embedding("c", 5_001)]
    done = failed_batch(client, tmp_path, rows, endpoint="/v1/embeddings")
    assert errors_of(done) == [("too_many_embedding_inputs", 3)]


def test_bad_endpoint_is_a_400(client: openai.OpenAI, tmp_path: Path) -> None:
    file_id = upload(client, write_jsonl(tmp_path / "in.jsonl", chat_lines(1)))
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/nothing",  # type: ignore[arg-type]
            completion_window="24h",
        )
    assert caught.value.param == "endpoint"


def test_bad_completion_window_is_a_400(client: openai.OpenAI, tmp_path: Path) -> None:
    file_id = upload(client, write_jsonl(tmp_path / "in.jsonl", chat_lines(1)))
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/chat/completions",
            completion_window="48h",  # type: ignore[arg-type]
        )
    assert caught.value.param == "completion_window"


def test_unknown_input_file_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert caught.value.param == "input_file_id"


def test_input_file_purpose_must_be_batch(client: openai.OpenAI, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", chat_lines(1))
    with path.open("rb") as handle:
        file_id = client.files.create(file=handle, purpose="user_data").id
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert caught.value.param == "input_file_id"


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(17)},
        {"k" * 65: "v"},
        {"k": "v" * 513},
        {"emulator_line_500_rate": "lots"},
        {"emulator_unknown": "1"},
    ],
    ids=["17-keys", "65-char-key", "513-char-value", "bad-fault-value", "unknown-fault-key"],
)
def test_metadata_limits_are_400s(
    client: openai.OpenAI, tmp_path: Path, metadata: dict[str, str]
) -> None:
    file_id = upload(client, write_jsonl(tmp_path / "in.jsonl", chat_lines(1)))
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata=metadata,
        )
    assert caught.value.status_code == 400
    assert caught.value.param is not None and caught.value.param.startswith("metadata")


def test_metadata_at_the_limits_is_accepted(client: openai.OpenAI, tmp_path: Path) -> None:
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    batch = submit(client, tmp_path, chat_lines(1), metadata=metadata)
    assert batch.metadata == metadata
