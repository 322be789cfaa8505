"""Fixtures: a real Redis (flushed per test), the emulator over HTTP, real Celery processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from producers.producer import Producer
from producers.settings import Settings
from tests.support.cluster import FAST_SETTINGS, Cluster
from tests.support.redis import test_url
from worker.testing import NotOurDatabase, claim_database, clean_env

# A test that runs Celery worker processes (or anything else through these fixtures) takes
# seconds to minutes: it is marked slow, and `make test-fast` leaves it out.
SLOW_FIXTURES = frozenset({"cluster", "services", "worker_env"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def redis_url() -> str:
    """The test database, flushed: one that was empty or that the tests marked as theirs."""
    url = test_url()
    with Redis.from_url(url) as client:
        try:
            claim_database(client, url)
        except NotOurDatabase as error:
            pytest.exit(str(error), returncode=3)
    return url


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(redis_url=redis_url)


@pytest.fixture
def producer(redis: Redis, settings: Settings) -> Producer:
    return Producer(redis, settings)


@pytest.fixture
def emulator() -> Iterator[Any]:
    from emulator.testing import running_emulator

    with running_emulator(
        batch_seconds=0.5, validating_seconds=0.1, finalizing_seconds=0.1
    ) as running:
        yield running


@pytest.fixture
def worker_env(redis_url: str, emulator: Any, tmp_path: Path) -> dict[str, str]:
    """The environment of worker processes: test Redis, emulator, fast intervals."""
    env = clean_env()
    env.update(FAST_SETTINGS)
    env.update(
        {
            "BATCHRELAY_REDIS_URL": redis_url,
            "OPENAI_BASE_URL": emulator.base_url,
            "OPENAI_API_KEY": "sk-test-emulator",
            "ANTHROPIC_BASE_URL": emulator.url,
            "ANTHROPIC_API_KEY": "sk-ant-test-emulator",
            "BATCHRELAY_SPOOL_DIR": str(tmp_path / "spool"),
        }
    )
    return env


@pytest.fixture
def cluster(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(worker_env, tmp_path)
    yield running
    running.stop()
