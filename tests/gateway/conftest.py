"""Fixtures: a real Redis (flushed per test), a gateway subprocess, the official openai SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from redis import Redis

from gateway.testing import RunningGateway, running_gateway
from tests.support.redis import test_url as database_url

ACME_KEY = "sk-acme-0f3c9a71d2b84e6b"
GLOBEX_KEY = "sk-globex-7d21e0c4aa93f518"
TENANT_KEYS = {"acme": ACME_KEY, "globex": GLOBEX_KEY}


def gateway_env(
    redis_url: str, keys: dict[str, str] | None = None, **settings: str
) -> dict[str, str]:
    """The gateway's environment: this Redis, these tenant keys, and BATCHRELAY_<NAME> for
    each of ``settings``."""
    env = {
        "BATCHRELAY_REDIS_URL": redis_url,
        "BATCHRELAY_GATEWAY_KEYS": json.dumps(TENANT_KEYS if keys is None else keys),
    }
    env.update({f"BATCHRELAY_{name.upper()}": value for name, value in settings.items()})
    return env


def jsonl(count: int, prefix: str = "req") -> bytes:
    """``count`` chat request lines of the Batch API."""
    lines = [
        json.dumps(
            {
                "custom_id": f"{prefix}-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": str(i)}]},
            }
        )
        for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


def gateway_keys(redis: Redis) -> list[str]:
    """The gateway's keys in the test database, but its request counters (which every request
    adds to)."""
    found = (k.decode() if isinstance(k, bytes) else k for k in redis.keys("br:gw:*"))
    return sorted(k for k in found if k != "br:gw:requests")


@pytest.fixture(scope="session")
def shared_gateway() -> Iterator[RunningGateway]:
    """One gateway for the tests that need no settings of their own; each test's `redis`
    fixture flushes its database."""
    with running_gateway(gateway_env(database_url())) as running:
        yield running


@pytest.fixture
def gateway(shared_gateway: RunningGateway, redis_url: str) -> RunningGateway:
    """The shared gateway, over the test database, flushed (by the redis_url fixture)."""
    assert shared_gateway.env["BATCHRELAY_REDIS_URL"] == redis_url
    return shared_gateway


@pytest.fixture
def acme(gateway: RunningGateway) -> openai.OpenAI:
    return gateway.client(ACME_KEY, max_retries=0)


@pytest.fixture
def globex(gateway: RunningGateway) -> openai.OpenAI:
    return gateway.client(GLOBEX_KEY, max_retries=0)
