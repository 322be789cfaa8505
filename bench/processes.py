"""Celery worker and beat processes for the end-to-end benchmark (worker.testing.Cluster)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worker.testing import Cluster, wait_for

READY_TIMEOUT_S = 90.0


@contextmanager
def running_workers(env: dict[str, str], log_dir: Path, count: int) -> Iterator[Cluster]:
    """``count`` worker processes (one Celery node of concurrency 1 each) and a beat, yielded
    once the workers are ready and the first beat tick has reached one of them."""
    cluster = Cluster(env, log_dir)
    try:
        names = [f"bench{n + 1}" for n in range(count)]
        for name in names:
            cluster.worker(name, concurrency=1)
        cluster.beat()
        wait_for(
            lambda: any("Task batchrelay.tick[" in cluster.log(n) for n in names),
            READY_TIMEOUT_S,
            "the first beat tick",
        )
        yield cluster
    finally:
        cluster.stop()
