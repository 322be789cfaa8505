"""Items end to end (producer -> Redis -> 2 Celery worker processes -> emulator -> delivered)
against the emulator alone serving the same batches through the SDK."""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from bench import items
from bench.common import NAMESPACE, producer, store
from bench.packing import TAG
from bench.processes import running_workers
from bench.redis_target import RedisTarget
from bench.result import Result, Timings
from emulator.testing import running_emulator
from worker.testing import clean_env

WORKER_PROCESSES = 2
BATCHES = 2
POLL_INTERVAL_S = 0.5
EMULATOR_TIMING = {"batch_seconds": 1.0, "validating_seconds": 0.2, "finalizing_seconds": 0.2}
TERMINAL = ("completed", "failed", "expired", "cancelled")
REPO_ROOT = Path(__file__).resolve().parent.parent


def write_inputs(directory: Path, count: int, per_batch: int) -> list[Path]:
    paths = []
    for number, start in enumerate(range(0, count, per_batch)):
        path = directory / f"input-{number}.jsonl"
        with path.open("wb") as handle:
            for n in range(start, min(count, start + per_batch)):
                handle.write(items.request_line(n) + b"\n")
        paths.append(path)
    return paths


def emulator_alone(emulator: Any, paths: list[Path], count: int) -> float:
    """Upload, create, poll until completed and download every output, via the SDK."""
    client = emulator.client(timeout=600)
    start = time.perf_counter()
    batch_ids = []
    for path in paths:
        with path.open("rb") as handle:
            file_id = client.files.create(file=(path.name, handle), purpose="batch").id
        created = client.batches.create(
            input_file_id=file_id, endpoint=items.CHAT_URL, completion_window="24h"
        )
        batch_ids.append(created.id)
    done: dict[str, Any] = {}
    while len(done) < len(batch_ids):
        time.sleep(POLL_INTERVAL_S)
        for batch_id in [b for b in batch_ids if b not in done]:
            batch = client.batches.retrieve(batch_id)
            if batch.status in TERMINAL:
                done[batch_id] = batch
    lines = 0
    for batch in done.values():
        with client.files.with_streaming_response.content(batch.output_file_id) as response:
            lines += sum(1 for line in response.iter_lines() if line)
    seconds = time.perf_counter() - start
    assert lines == count, f"emulator alone: {lines} output lines for {count} requests"
    return seconds


def worker_env(target: RedisTarget, emulator: Any, spool: Path, per_batch: int) -> dict[str, str]:
    env = clean_env()
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    env.update(
        {
            "PYTHONPATH": python_path,
            "BATCHRELAY_REDIS_URL": target.url,
            "BATCHRELAY_NAMESPACE": NAMESPACE,
            "BATCHRELAY_SPOOL_DIR": str(spool),
            "BATCHRELAY_MAX_REQUESTS_PER_BATCH": str(per_batch),
            "BATCHRELAY_FLUSH_AFTER": "60",  # only full batches, as the baseline has
            "BATCHRELAY_AGGREGATE_INTERVAL": "0.5",
            "BATCHRELAY_POLL_INTERVAL": str(POLL_INTERVAL_S),
            "BATCHRELAY_HOUSEKEEPING_INTERVAL": "5",
            "OPENAI_BASE_URL": emulator.base_url,
            "OPENAI_API_KEY": emulator.api_key,
        }
    )
    return env


def batch_phases(target: RedisTarget, since: float) -> list[dict[str, float]]:
    """When each batch reached each of its states, in seconds after ``since`` (wall clock)."""
    bench_store = store(target)
    try:
        phases = []
        for batch_id in reversed(bench_store.batches.ids(TAG)):
            batch = bench_store.batches.get(batch_id)
            fields = batch.fields.items()
            stamps = {
                k.removesuffix("_at"): float(v) - since
                for k, v in fields
                if k.endswith("_at") and k != "expires_at"
            }
            ordered = {k: round(v, 2) for k, v in sorted(stamps.items(), key=lambda kv: kv[1])}
            phases.append({"items": batch.number("items"), **ordered})
        return phases
    finally:
        bench_store.redis.close()


def through_workers(target: RedisTarget, count: int, timeout: float) -> dict[str, float]:
    """Submit ``count`` items and wait until every one is delivered; returns a timeline."""
    work = items.chat_items(count, callback=False)
    counter = store(target)
    with closing(producer(target)) as prod, closing(counter.redis):
        start = time.perf_counter()
        timeline = {"start_wall": time.time()}
        report = prod.submit_many(work)
        timeline["submitted_s"] = time.perf_counter() - start
        assert len(report.accepted) == count
        deadline = start + timeout
        while True:
            raw = counter.partitions.counts(TAG)
            now = time.perf_counter()
            finished = raw.get("succeeded", 0) + raw.get("dead", 0) + raw.get("delivered", 0)
            if finished >= count and "results_stored_s" not in timeline:
                timeline["results_stored_s"] = now - start
            if raw.get("delivered", 0) >= count:
                timeline["delivered_s"] = now - start
                timeline["dead"] = raw.get("dead", 0) + raw.get("delivered_dead", 0)
                return timeline
            if now > deadline:
                raise RuntimeError(f"end to end: not all delivered after {timeout:.0f}s: {raw}")
            time.sleep(0.05)


def run_end_to_end(target: RedisTarget, count: int, timeout: float = 1200.0) -> Result:
    per_batch = -(-count // BATCHES)
    with (
        tempfile.TemporaryDirectory(prefix="batchrelay-bench-e2e-") as scratch,
        running_emulator(log_level="warning", **EMULATOR_TIMING) as emulator,
    ):
        directory = Path(scratch)
        paths = write_inputs(directory, count, per_batch)
        baseline = Timings(count, [emulator_alone(emulator, paths, count)])
        emulator.reset(data=True)
        target.flush()
        with running_workers(
            worker_env(target, emulator, directory / "spool", per_batch),
            directory,
            WORKER_PROCESSES,
        ):
            timeline = through_workers(target, count, timeout)
        phases = batch_phases(target, timeline.pop("start_wall"))
        target.flush()
    subject = Timings(count, [timeline["delivered_s"]])
    ratio = subject.rate / baseline.rate
    absolute = {
        "subject": subject.summary(),
        "baseline": baseline.summary(),
        "timeline_s": {k: round(v, 3) for k, v in timeline.items()},
        "batch_phases_s": phases,
        "batches": BATCHES,
        "worker_processes": WORKER_PROCESSES,
        "poll_interval_s": POLL_INTERVAL_S,
        "emulator": EMULATOR_TIMING,
    }
    ok = timeline["dead"] == 0
    return Result(
        "end_to_end",
        ratio,
        "items/s delivered through the workers / emulator-alone items/s",
        None,
        "every item delivered, none dead (ratio reported)",
        ok,
        absolute,
    )
