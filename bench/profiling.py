"""pyinstrument profiles of the submit_many, pack and collect paths (``python -m bench --profile``).

Each profile is written as text and HTML under bench/results/ (profile-<name>.txt/.html).
Time the client spends waiting on Redis shows as socket reads; the server's own share (the Lua
scripts) is printed from INFO commandstats beside each profile when the Redis is private.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from pyinstrument import Profiler

from bench import items
from bench.collecting import collect_file, submitted_batch
from bench.common import bench_settings, producer, store
from bench.packing import TAG, queue_items
from bench.redis_target import RedisTarget
from worker.lifecycle.packing import pack

INTERVAL_S = 0.001


def profiled(name: str, target: RedisTarget, action: Callable[[], object], out_dir: Path) -> str:
    """Profile ``action``; write profile-<name>.txt/.html; return the text profile."""
    target.reset_stats()
    profiler = Profiler(interval=INTERVAL_S)
    profiler.start()
    action()
    profiler.stop()
    script_s = target.script_usec() / 1e6
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    header = f"# {name}: server-side EVALSHA seconds {script_s:.3f}\n" if target.private else ""
    (out_dir / f"profile-{name}.txt").write_text(header + text)
    (out_dir / f"profile-{name}.html").write_text(profiler.output_html())
    return header + text


def profile_all(target: RedisTarget, count: int, out_dir: Path) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = []
    work = items.chat_items(count)
    target.flush()
    with closing(producer(target)) as prod:
        texts.append(profiled("submit_many", target, lambda: prod.submit_many(work), out_dir))
    with tempfile.TemporaryDirectory(prefix="batchrelay-bench-profile-") as scratch:
        directory = Path(scratch)
        queue_items(target, count)
        pack_store = store(target)
        settings = bench_settings(target)
        texts.append(
            profiled("pack", target, lambda: pack(pack_store, settings, TAG, directory), out_dir)
        )
        pack_store.redis.close()
        batch_id, item_ids = submitted_batch(target, directory, count)
        output = directory / "output.jsonl"
        items.write_output_file(output, item_ids)
        reader = store(target)
        batch = reader.batches.get(batch_id)
        reader.redis.close()
        texts.append(
            profiled("collect", target, lambda: collect_file(target, batch, output), out_dir)
        )
    target.flush()
    return texts
