"""The Redis the benchmarks use: a private redis-server (default) or db 12 of a given server.

Every benchmark flushes only its own database. A private server keeps the figures clear of
other engineers' tests hammering the shared Redis; its automatic AOF rewrites are switched off
so a background fork cannot land inside one side of a comparison.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from worker.services import start_redis

BENCH_DB = 12


@dataclass(frozen=True)
class RedisTarget:
    """A Redis URL whose database the benchmarks may flush, and whether it is ours alone."""

    url: str
    private: bool

    def client(self) -> Redis:
        return Redis.from_url(self.url)

    def flush(self) -> None:
        with self.client() as client:
            client.flushdb()

    def version(self) -> str:
        with self.client() as client:
            return str(client.info("server").get("redis_version", "?"))

    def reset_stats(self) -> None:
        """Zero the server's command statistics (only on a private server: they are global)."""
        if self.private:
            with self.client() as client:
                client.config_resetstat()

    def script_usec(self) -> float:
        """Server-side microseconds spent in EVALSHA/EVAL since the last reset_stats()."""
        if not self.private:
            return 0.0
        with self.client() as client:
            stats = client.info("commandstats")
        names = ("cmdstat_evalsha", "cmdstat_eval")
        return float(sum(stats.get(name, {}).get("usec", 0) for name in names))


def with_db(url: str, db: int = BENCH_DB) -> str:
    """``url`` pointed at database ``db``."""
    base = url.rstrip("/")
    head, _, tail = base.rpartition("/")
    if head.endswith(":/") or not tail.isdigit():
        return f"{base}/{db}"
    return f"{head}/{db}"


@contextmanager
def redis_target(url: str | None = None) -> Iterator[RedisTarget]:
    """db 12 of ``url``, or of a private redis-server started for the run and stopped after."""
    if url:
        target = RedisTarget(with_db(url), private=False)
        target.flush()
        try:
            yield target
        finally:
            target.flush()
        return
    directory = Path(tempfile.mkdtemp(prefix="batchrelay-bench-redis-"))
    process, started = start_redis(directory)
    try:
        target = RedisTarget(with_db(started), private=True)
        with target.client() as client:
            client.config_set("auto-aof-rewrite-percentage", 0)
        yield target
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)
