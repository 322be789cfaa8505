"""Replicas keep no state of their own: a file uploaded through one is read, listed and
deleted through another, and outlives a restart."""

from __future__ import annotations

import openai
import pytest
from redis import Redis

from gateway.testing import RunningGateway, running_gateway
from tests.gateway.conftest import ACME_KEY, jsonl


def test_two_replicas_share_files_and_a_restart_keeps_them(
    gateway: RunningGateway, redis: Redis
) -> None:
    data = jsonl(100)
    other = gateway.client(ACME_KEY, max_retries=0)
    with running_gateway(gateway.env) as first:
        file_id = first.client(ACME_KEY).files.create(file=("r.jsonl", data), purpose="batch").id
        assert other.files.retrieve(file_id).bytes == len(data)
        assert other.files.content(file_id).content == data

        port = first.port
        first.restart()
        assert first.port == port
        again = first.client(ACME_KEY, max_retries=0)
        assert [f.id for f in again.files.list()] == [file_id]

        assert other.files.delete(file_id).deleted
        with pytest.raises(openai.NotFoundError):
            again.files.retrieve(file_id)
        assert redis.keys("br:gw:file:*") == []
