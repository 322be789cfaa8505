"""`/v1/files` through the official openai SDK: upload, retrieve, list, content, delete, and
every tenant seeing only its own files."""

from __future__ import annotations

import httpx
import openai
import pytest
from redis import Redis

from gateway.testing import RunningGateway
from tests.gateway.conftest import ACME_KEY, gateway_keys, jsonl


def upload(client: openai.OpenAI, data: bytes, name: str = "requests.jsonl") -> str:
    return client.files.create(file=(name, data), purpose="batch").id


def test_upload_retrieve_and_content_round_trip(acme: openai.OpenAI, redis: Redis) -> None:
    data = jsonl(50)

    created = acme.files.create(file=("requests.jsonl", data), purpose="batch")

    assert created.id.startswith("file-") and len(created.id) == len("file-") + 24
    assert (created.object, created.purpose, created.status) == ("file", "batch", "processed")
    assert (created.filename, created.bytes) == ("requests.jsonl", len(data))
    assert created.expires_at is None and created.status_details is None
    assert acme.files.retrieve(created.id) == created
    assert acme.files.content(created.id).content == data
    record = redis.hgetall(f"br:gw:file:{created.id}")
    assert record[b"tenant"] == b"acme" and record[b"purpose"] == b"batch"
    assert redis.lrange(f"br:gw:file:{created.id}:chunks", 0, -1) == [data]
    assert redis.ttl(f"br:gw:file:{created.id}:chunks") == -1  # kept for good


def test_content_of_a_multi_chunk_file_streams_byte_for_byte(
    acme: openai.OpenAI, redis: Redis
) -> None:
    data = bytes(range(256)) * (9 * 1024 + 7)  # 2.25 MiB and a bit: three chunks

    file_id = upload(acme, data, "binary.jsonl")

    with acme.files.with_streaming_response.content(file_id) as response:
        assert response.headers["content-type"] == "application/octet-stream"
        assert int(response.headers["content-length"]) == len(data)
        received = b"".join(response.iter_bytes())
    assert received == data
    chunks = redis.lrange(f"br:gw:file:{file_id}:chunks", 0, -1)
    assert [len(c) for c in chunks] == [1024 * 1024, 1024 * 1024, len(data) - 2 * 1024 * 1024]


def test_list_pages_with_after_limit_and_order(acme: openai.OpenAI) -> None:
    ids = [upload(acme, jsonl(1, f"f{i}")) for i in range(5)]

    newest_first = acme.files.list()
    assert [f.id for f in newest_first.data] == ids[::-1]
    assert newest_first.has_more is False

    first = acme.files.list(limit=2)
    assert [f.id for f in first.data] == [ids[4], ids[3]] and first.has_more
    second = acme.files.list(limit=2, after=ids[3])
    assert [f.id for f in second.data] == [ids[2], ids[1]] and second.has_more
    last = acme.files.list(limit=2, after=ids[1])
    assert [f.id for f in last.data] == [ids[0]] and not last.has_more

    oldest_first = acme.files.list(order="asc", limit=3)
    assert [f.id for f in oldest_first.data] == ids[:3] and oldest_first.has_more
    assert [f.id for f in acme.files.list(order="asc", after=ids[2]).data] == ids[3:]
    assert [f.id for f in acme.files.list(limit=2, order="asc")] == ids  # the SDK pages on
    assert [f.id for f in acme.files.list(purpose="batch").data] == ids[::-1]
    assert acme.files.list(purpose="fine-tune").data == []
    assert acme.files.list(after="file-000000000000000000000000").data == []


def test_the_list_envelope_is_openais(gateway: RunningGateway) -> None:
    headers = {"Authorization": f"Bearer {ACME_KEY}"}
    body = httpx.get(gateway.base_url + "/files", headers=headers).json()
    assert body == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


@pytest.mark.parametrize(
    ("query", "param"), [("limit=0", "limit"), ("limit=10001", "limit"), ("order=up", "order")]
)
def test_bad_list_parameters_are_400_naming_them(
    gateway: RunningGateway, query: str, param: str
) -> None:
    response = httpx.get(
        f"{gateway.base_url}/files?{query}", headers={"Authorization": f"Bearer {ACME_KEY}"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert set(error) == {"message", "type", "param", "code"}


def test_delete_removes_record_chunks_and_index(acme: openai.OpenAI, redis: Redis) -> None:
    kept = upload(acme, jsonl(2, "kept"))
    file_id = upload(acme, jsonl(3))

    deleted = acme.files.delete(file_id)

    assert (deleted.id, deleted.object, deleted.deleted) == (file_id, "file", True)
    for call in (acme.files.retrieve, acme.files.content, acme.files.delete):
        with pytest.raises(openai.NotFoundError):
            call(file_id)
    assert [f.id for f in acme.files.list()] == [kept]
    assert gateway_keys(redis) == sorted(
        ["br:gw:files:acme", f"br:gw:file:{kept}", f"br:gw:file:{kept}:chunks"]
    )


def test_another_tenants_file_is_a_plain_404(
    acme: openai.OpenAI, globex: openai.OpenAI, redis: Redis
) -> None:
    theirs = upload(acme, jsonl(2))
    missing = "file-0123456789abcdef01234567"
    errors = []
    for file_id in (theirs, missing):
        for call in (globex.files.retrieve, globex.files.content, globex.files.delete):
            with pytest.raises(openai.NotFoundError) as caught:
                call(file_id)
            errors.append(caught.value.body)

    mine = [e for e in errors[:3]]
    absent = [e for e in errors[3:]]
    assert [str(e).replace(theirs, "<id>") for e in mine] == [
        str(e).replace(missing, "<id>") for e in absent
    ]
    assert errors[0] == {
        "message": f"No such File object: {theirs}",
        "type": "invalid_request_error",
        "param": "id",
        "code": None,
    }
    assert globex.files.list().data == []
    assert acme.files.retrieve(theirs).id == theirs  # still there
    assert redis.exists(f"br:gw:file:{theirs}:chunks")


def test_an_empty_file_is_400_and_not_stored(acme: openai.OpenAI, redis: Redis) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        acme.files.create(file=("empty.jsonl", b""), purpose="batch")

    assert caught.value.code == "empty_file"
    assert gateway_keys(redis) == []


@pytest.mark.parametrize("purpose", ["fine-tune", "assistants", "batch_output", ""])
def test_a_purpose_other_than_batch_is_400(acme: openai.OpenAI, redis: Redis, purpose: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        acme.files.create(file=("requests.jsonl", jsonl(1)), purpose=purpose)  # type: ignore[arg-type]

    assert caught.value.param == "purpose"
    assert gateway_keys(redis) == []


def test_a_wrong_purpose_ahead_of_a_large_file_is_400(acme: openai.OpenAI, redis: Redis) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        acme.files.create(file=("big.jsonl", b"x" * 20_000_000), purpose="vision")

    assert caught.value.param == "purpose"
    assert gateway_keys(redis) == []


def test_a_purpose_after_the_file_part_is_checked_and_nothing_kept(
    gateway: RunningGateway, redis: Redis
) -> None:
    big = jsonl(30_000)  # over 1 MiB: a chunk is in Redis before the purpose arrives
    assert len(big) > 1024 * 1024
    body, content_type = _multipart([("file", "r.jsonl", big), ("purpose", None, b"vision")])

    response = httpx.post(
        gateway.base_url + "/files",
        content=body,
        headers={"Authorization": f"Bearer {ACME_KEY}", "Content-Type": content_type},
    )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "purpose"
    assert gateway_keys(redis) == []


@pytest.mark.parametrize(
    ("parts", "param", "code"),
    [
        ([("purpose", None, b"batch")], "file", "missing_required_parameter"),
        ([("file", "r.jsonl", b"{}\n")], "purpose", "missing_required_parameter"),
        ([("file", "r.csv", b"{}\n"), ("purpose", None, b"batch")], "file", "invalid_file_format"),
    ],
)
def test_incomplete_uploads_are_400(
    gateway: RunningGateway,
    redis: Redis,
    parts: list[tuple[str, str | None, bytes]],
    param: str,
    code: str,
) -> None:
    body, content_type = _multipart(parts)
    response = httpx.post(
        gateway.base_url + "/files",
        content=body,
        headers={"Authorization": f"Bearer {ACME_KEY}", "Content-Type": content_type},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    assert gateway_keys(redis) == []


def test_a_body_that_is_not_multipart_is_400(gateway: RunningGateway) -> None:
    response = httpx.post(
        gateway.base_url + "/files",
        json={"purpose": "batch"},
        headers={"Authorization": f"Bearer {ACME_KEY}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "file"


def test_unknown_routes_are_404_in_the_envelope(gateway: RunningGateway) -> None:
    response = httpx.get(gateway.base_url + "/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "Invalid URL (GET /v1/nothing-here)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body with the parts in this order (name, filename, data)."""
    boundary = "gateway-test-boundary-5a1f"
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
