"""worker.lifecycle.packing.pack of queued items against a raw drain of the same bytes."""

from __future__ import annotations

import tempfile
from contextlib import closing
from pathlib import Path

from bench import items
from bench.common import bench_settings, producer, store
from bench.redis_target import RedisTarget
from bench.result import Result, Timings, throughput_result, timed
from producers.keys import partition_tag
from worker.lifecycle.packing import CLAIM_CHUNK, PackedBatch, pack

RAW_KEY = "bench:raw"
TAG = partition_tag(items.CHAT_URL, items.MODEL)
ABSOLUTE_LIMIT_S = 1.0
ABSOLUTE_LIMIT_ITEMS = 50_000


def queue_items(target: RedisTarget, count: int) -> None:
    """Submit ``count`` chat items (not timed)."""
    target.flush()
    with closing(producer(target)) as prod:
        report = prod.submit_many(items.chat_items(count))
    assert len(report.accepted) == count


def packed_batch(target: RedisTarget, directory: Path, count: int) -> tuple[PackedBatch, float]:
    """Queue ``count`` items and pack them into one file; returns the batch and pack seconds."""
    queue_items(target, count)
    settings = bench_settings(target)
    found: list[PackedBatch | None] = []
    bench_store = store(target)
    try:
        seconds = timed(lambda: found.append(pack(bench_store, settings, TAG, directory)))
    finally:
        bench_store.redis.close()
    batch = found[0]
    assert batch is not None and batch.count == count, f"packed {batch}"
    return batch, seconds


def raw_drain(target: RedisTarget, lines: list[bytes], path: Path) -> float:
    """Drain a list holding ``lines`` into ``path``, CLAIM_CHUNK lines per LPOP."""
    target.flush()
    with target.client() as client:
        for start in range(0, len(lines), 1000):
            client.rpush(RAW_KEY, *lines[start : start + 1000])

        def drain() -> None:
            with path.open("wb") as handle:
                while chunk := client.lpop(RAW_KEY, CLAIM_CHUNK):
                    handle.write(b"\n".join(chunk))
                    handle.write(b"\n")

        return timed(drain)


def run_pack(target: RedisTarget, count: int, repeats: int) -> Result:
    lines = items.request_lines(count)
    subject, baseline = Timings(count), Timings(count)
    with tempfile.TemporaryDirectory(prefix="batchrelay-bench-pack-") as scratch:
        directory = Path(scratch)
        for _ in range(repeats):
            raw_path = directory / "raw.jsonl"
            baseline.seconds.append(raw_drain(target, lines, raw_path))
            batch, seconds = packed_batch(target, directory, count)
            subject.seconds.append(seconds)
            assert batch.path.stat().st_size == raw_path.stat().st_size, "pack wrote other bytes"
            batch.path.unlink()
    limit = ABSOLUTE_LIMIT_S * count / ABSOLUTE_LIMIT_ITEMS
    result = throughput_result(
        "pack",
        subject,
        baseline,
        0.5,
        "pack items/s / raw LPOP drain items/s",
        absolute_limit_s=round(limit, 3),
    )
    result.ok = bool(result.ok) and subject.best < limit
    result.goal += f" and under {limit:.2f} s ({ABSOLUTE_LIMIT_S:.0f} s per 50,000)"
    return result
