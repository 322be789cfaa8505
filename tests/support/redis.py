"""The Redis the tests use: the one answering on 127.0.0.1:6379, else a private server."""

from __future__ import annotations

import atexit
import os
import tempfile
from functools import cache
from pathlib import Path

from worker.services import redis_answers, start_redis

TEST_DB = 9


@cache
def server_url() -> str:
    """Base URL (no db) of a Redis for the tests, starting one if nothing answers."""
    url = os.environ.get("BATCHRELAY_TEST_REDIS_URL", "redis://127.0.0.1:6379")
    if redis_answers(url):
        return url.rstrip("/")
    process, started = start_redis(Path(tempfile.mkdtemp(prefix="batchrelay-test-redis-")))
    atexit.register(process.terminate)
    return started.rsplit("/", 1)[0]


def test_url(db: int = TEST_DB) -> str:
    """The tests' database; under pytest-xdist each worker has its own (9, 10, ...)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return f"{server_url()}/{db + int(worker.removeprefix('gw') or 0)}"
