"""Memory of a worker collecting a ~200 MB output file streamed from the emulator.

The collection runs in a child process (bench.memory_child) so its RSS is the worker's alone:
the figure is the peak RSS during collect() over the RSS before it started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import items
from bench.collecting import submitted_batch
from bench.common import store
from bench.redis_target import RedisTarget
from bench.result import Result
from emulator.testing import running_emulator
from producers.status import BatchState

LINE_BYTES = 4000
GROWTH_LIMIT_MB = 100.0
REPO_ROOT = Path(__file__).resolve().parent.parent


def upload_output(emulator: Any, path: Path) -> str:
    """Upload an output-shaped file (purpose batch) and return its file id."""
    client = emulator.client(max_retries=0, timeout=600)
    with path.open("rb") as handle:
        return str(client.files.create(file=(path.name, handle), purpose="batch").id)


def mark_completed(target: RedisTarget, batch_id: str, file_id: str) -> None:
    bench_store = store(target)
    try:
        moved = bench_store.batches.transition(
            batch_id,
            BatchState.SUBMITTED,
            BatchState.COMPLETED,
            live="rem",
            oa_status="completed",
            output_file_id=file_id,
            error_file_id="",
        )
        assert moved, f"batch {batch_id} not in state submitted"
    finally:
        bench_store.redis.close()


def run_child(config: dict[str, Any]) -> dict[str, Any]:
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory_child", json.dumps(config)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=1800,
        env={**os.environ, "PYTHONPATH": python_path},
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory child failed ({done.returncode}): {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _mb(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def run_memory(target: RedisTarget, count: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="batchrelay-bench-memory-") as scratch:
        directory = Path(scratch)
        batch_id, item_ids = submitted_batch(target, directory, count)
        output = directory / "output.jsonl"
        file_bytes = items.write_output_file(output, item_ids, LINE_BYTES)
        with running_emulator(log_level="warning") as emulator:
            file_id = upload_output(emulator, output)
            output.unlink()
            mark_completed(target, batch_id, file_id)
            child = run_child(
                {
                    "redis_url": target.url,
                    "base_url": emulator.base_url,
                    "api_key": emulator.api_key,
                    "batch_id": batch_id,
                    "file_id": file_id,
                }
            )
    assert child["succeeded"] == count and child["delivered_ids"] == count, child
    before = float(child["rss_before_mb"])
    peak = max(float(child["rss_peak_sampled_mb"]), float(child["rss_peak_hwm_mb"] or 0.0))
    growth = peak - before
    absolute = {
        "file_mb": round(file_bytes / 1e6, 1),
        "lines": count,
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_peak_sampled_mb": round(float(child["rss_peak_sampled_mb"]), 1),
        "rss_peak_hwm_mb": _mb(child["rss_peak_hwm_mb"]),
        "growth_mb": round(growth, 1),
        "growth_limit_mb": GROWTH_LIMIT_MB,
        "collect_s": round(float(child["seconds"]), 3),
        "items_per_s": round(count / float(child["seconds"]), 1),
        "file_mb_per_s": round(file_bytes / 1e6 / float(child["seconds"]), 1),
    }
    return Result(
        "collect_memory",
        peak / before,
        "peak RSS while collecting / RSS before",
        None,
        f"growth <= {GROWTH_LIMIT_MB:.0f} MB",
        growth <= GROWTH_LIMIT_MB,
        absolute,
    )
