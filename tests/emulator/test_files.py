"""`/v1/files` through the official SDK."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.emulator.helpers import chat_lines, write_jsonl


def test_upload_retrieve_list_content_delete(client: openai.OpenAI, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "requests.jsonl", chat_lines(3))
    with path.open("rb") as handle:
        created = client.files.create(file=handle, purpose="batch")

    assert created.id.startswith("file-")
    assert created.object == "file"
    assert created.purpose == "batch"
    assert created.filename == "requests.jsonl"
    assert created.bytes == path.stat().st_size
    assert created.status == "processed"
    assert created.expires_at is not None and created.expires_at > created.created_at
    assert client.files.retrieve(created.id) == created
    assert created.id in [f.id for f in client.files.list(purpose="batch")]
    assert client.files.content(created.id).content == path.read_bytes()

    deleted = client.files.delete(created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(created.id)


def test_content_streams_line_by_line(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = chat_lines(2000)
    path = write_jsonl(tmp_path / "many.jsonl", rows)
    with path.open("rb") as handle:
        file_id = client.files.create(file=handle, purpose="batch").id

    with client.files.with_streaming_response.content(file_id) as response:
        lines = list(response.iter_lines())

    assert len(lines) == len(rows)
    assert lines[0] == path.read_text().splitlines()[0]


def test_list_paginates_with_after_and_limit(client: openai.OpenAI, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "one.jsonl", chat_lines(1))
    ids = []
    for _ in range(3):
        with path.open("rb") as handle:
            ids.append(client.files.create(file=handle, purpose="batch").id)

    first = client.files.list(limit=2, order="asc", purpose="batch")
    everything = [f.id for f in client.files.list(limit=2, order="asc", purpose="batch")]

    assert len(first.data) == 2 and first.has_more
    assert everything[-3:] == ids


def test_only_jsonl_files_for_batch(client: openai.OpenAI, tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text("a,b\n")
    with pytest.raises(openai.BadRequestError) as caught, path.open("rb") as handle:
        client.files.create(file=handle, purpose="batch")
    assert caught.value.status_code == 400
    assert caught.value.param == "file"


def test_unknown_purpose_is_rejected(client: openai.OpenAI, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "requests.jsonl", chat_lines(1))
    with pytest.raises(openai.BadRequestError) as caught, path.open("rb") as handle:
        client.files.create(file=handle, purpose="nonsense")  # type: ignore[arg-type]
    assert caught.value.param == "purpose"


def test_upload_over_the_cap_is_413(tmp_path: Path) -> None:
    from emulator.testing import running_emulator

    path = write_jsonl(tmp_path / "big.jsonl", chat_lines(200))
    with running_emulator(max_file_bytes=4096) as small:
        client = small.client(max_retries=0)
        with pytest.raises(openai.APIStatusError) as caught, path.open("rb") as handle:
            client.files.create(file=handle, purpose="batch")
        assert caught.value.status_code == 413
        assert len(client.files.list().data) == 0


def test_expires_after_sets_expires_at_and_the_file_really_expires(tmp_path: Path) -> None:
    from emulator.testing import running_emulator

    path = write_jsonl(tmp_path / "short.jsonl", chat_lines(1))
    with running_emulator(file_ttl_scale=1 / 3600) as fast:  # an hour lasts a second
        client = fast.client(max_retries=0)
        with path.open("rb") as handle:
            short = client.files.create(
                file=handle,
                purpose="batch",
                expires_after={"anchor": "created_at", "seconds": 3600},
            )
        with path.open("rb") as handle:
            default = client.files.create(file=handle, purpose="batch")
        assert short.expires_at == short.created_at + 1
        assert default.expires_at == default.created_at + 30 * 24 * 3600
        time.sleep(2.1)
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(short.id)
        assert [f.id for f in client.files.list(purpose="batch")] == [default.id]


@pytest.mark.parametrize(
    ("expires_after", "param"),
    [
        ({"anchor": "last_active_at", "seconds": 3600}, "expires_after.anchor"),
        ({"anchor": "created_at", "seconds": 60}, "expires_after.seconds"),
        ({"anchor": "created_at", "seconds": 31 * 24 * 3600}, "expires_after.seconds"),
    ],
)
def test_expires_after_out_of_bounds_is_400(
    client: openai.OpenAI, tmp_path: Path, expires_after: Any, param: str
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", chat_lines(1))
    with pytest.raises(openai.BadRequestError) as caught, path.open("rb") as handle:
        client.files.create(file=handle, purpose="batch", expires_after=expires_after)
    assert caught.value.param == param


def test_a_provider_without_expires_after_refuses_it(tmp_path: Path) -> None:
    from emulator.testing import running_emulator

    path = write_jsonl(tmp_path / "one.jsonl", chat_lines(1))
    with running_emulator(refuse_expires_after=True) as refusing:
        client = refusing.client(max_retries=0)
        with pytest.raises(openai.BadRequestError) as caught, path.open("rb") as handle:
            client.files.create(
                file=handle,
                purpose="batch",
                expires_after={"anchor": "created_at", "seconds": 3600},
            )
        assert caught.value.code == "unknown_parameter"
        assert len(client.files.list().data) == 0
