"""BATCHRELAY_GATEWAY_MAX_FILE_BYTES: a larger upload is 413 file_too_large and leaves nothing
in Redis, whether its declared length says so up front or the stream crosses the limit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from redis import Redis

from gateway.testing import RunningGateway, running_gateway
from tests.gateway.conftest import ACME_KEY, gateway_env, gateway_keys
from tests.support.redis import test_url as database_url

LIMIT = 1024 * 1024 + 512 * 1024  # a chunk (1 MiB) reaches Redis before the limit is crossed


@pytest.fixture(scope="module")
def limited_gateway() -> Iterator[RunningGateway]:
    """A gateway with a small limit; each test's `redis` fixture flushes its database."""
    with running_gateway(gateway_env(database_url(), gateway_max_file_bytes=str(LIMIT))) as gateway:
        yield gateway


def assert_too_large(error: dict[str, object]) -> None:
    assert error["code"] == "file_too_large"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "file"
    assert str(LIMIT) in str(error["message"])


def test_a_file_at_the_limit_is_accepted(limited_gateway: RunningGateway, redis: Redis) -> None:
    data = b"x" * (LIMIT - 1) + b"\n"
    client = limited_gateway.client(ACME_KEY, max_retries=0)
    created = client.files.create(file=("limit.jsonl", data), purpose="batch")
    assert created.bytes == LIMIT
    assert client.files.content(created.id).content == data
    assert redis.llen(f"br:gw:file:{created.id}:chunks") == 2


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT + 32 * 1024, 3 * LIMIT])
def test_a_larger_file_is_413_and_nothing_is_kept(
    limited_gateway: RunningGateway, redis: Redis, size: int
) -> None:
    client = limited_gateway.client(ACME_KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.files.create(file=("big.jsonl", b"y" * size), purpose="batch")

    assert caught.value.status_code == 413
    assert_too_large(caught.value.response.json()["error"])
    assert gateway_keys(redis) == []
    assert client.files.list().data == []


def test_a_stream_without_a_length_is_cut_off_at_the_limit(
    limited_gateway: RunningGateway, redis: Redis
) -> None:
    boundary = "cut-off-boundary"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="endless.jsonl"\r\n\r\n'
        ).encode()
        for _ in range(3 * LIMIT // 65536):
            yield b"z" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx.post(
        limited_gateway.base_url + "/files",
        content=body(),
        headers={
            "Authorization": f"Bearer {ACME_KEY}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )

    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert_too_large(response.json()["error"])
    assert gateway_keys(redis) == []
