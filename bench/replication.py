"""What BATCHRELAY_REDIS_MIN_REPLICAS=1 costs submit_many: the same items into a primary with
two replicas, acknowledged after WAIT 1 (subject) and without it (baseline), in one run."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from redis import Redis

from bench import items
from bench.result import Result, Timings, throughput_result, timed
from producers.producer import Producer
from producers.settings import Settings
from worker.services import start_redis

SERVER_ARGS = ["--repl-diskless-sync-delay", "0"]


@contextmanager
def replicated_redis() -> Iterator[str]:
    """A private primary with two replicas (AOF everysec on each); yields the primary's URL."""
    directory = Path(tempfile.mkdtemp(prefix="batchrelay-bench-replicas-"))
    processes = []
    try:
        primary, url = start_redis(directory / "primary", extra_args=SERVER_ARGS)
        processes.append(primary)
        port = url.rsplit(":", 1)[1].split("/")[0]
        for n in range(2):
            replica, _ = start_redis(
                directory / f"replica{n}",
                extra_args=[*SERVER_ARGS, "--replicaof", "127.0.0.1", port],
            )
            processes.append(replica)
        with Redis.from_url(url) as client:
            client.config_set("auto-aof-rewrite-percentage", 0)
            while client.execute_command("WAIT", 2, 100) < 2:
                pass
        yield url
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


def submit_all(url: str, work: list[dict[str, object]], replicas: int) -> float:
    with Redis.from_url(url) as client:
        client.flushdb()
    settings = Settings.from_dsn(url, redis_min_replicas=replicas)
    with closing(Producer(Redis.from_url(url), settings)) as producer:
        seconds = timed(lambda: producer.submit_many(work))
        assert producer.states([str(work[-1]["id"])]) == {work[-1]["id"]: "queued"}
    return seconds


def run_replicated_submit(count: int, repeats: int) -> Result:
    """``submit_many`` with BATCHRELAY_REDIS_MIN_REPLICAS=1 vs the same without WAIT."""
    work = items.chat_items(count)
    subject, baseline = Timings(count), Timings(count)
    with replicated_redis() as url:
        for _ in range(repeats):
            baseline.seconds.append(submit_all(url, work, 0))
            subject.seconds.append(submit_all(url, work, 1))
    return throughput_result(
        "submit_many_replicated",
        subject,
        baseline,
        0.7,
        "submit_many items/s with MIN_REPLICAS=1 / without, same primary and two replicas",
    )
