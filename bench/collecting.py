"""Collecting an output file into stored results and queued deliveries, against orjson.loads.

The items are first queued, packed and marked submitted (Batches.mark_submitted), as a batch in
flight is. The Collector is fed the lines of a local output file, with a dispatcher that only
counts deliver calls; the baseline parses the same lines from the same file with orjson.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import orjson

from bench import items
from bench.common import CountingDispatcher, bench_settings, store
from bench.packing import packed_batch
from bench.redis_target import RedisTarget
from bench.result import Result, Timings, throughput_result, timed
from producers.status import BatchState
from worker.lifecycle.collecting import Collector
from worker.providers.anthropic import result_line
from worker.providers.anthropic_ids import CustomIds
from worker.store import Batch

OPENAI_BATCH_ID = "batch_bench0000000000000000000000000"


def submitted_batch(target: RedisTarget, directory: Path, count: int) -> tuple[str, list[str]]:
    """A batch of ``count`` items in state submitted; returns its id and its item ids."""
    packed, _ = packed_batch(target, directory, count)
    packed.path.unlink()
    bench_store = store(target)
    try:
        moved = bench_store.batches.mark_submitted(packed.batch_id)
        assert moved == count, f"moved {moved} of {count}"
        assert bench_store.batches.transition(
            packed.batch_id,
            BatchState.PACKED,
            BatchState.SUBMITTED,
            lease=False,
            live="add",
            provider_id=OPENAI_BATCH_ID,
        )
        return packed.batch_id, bench_store.batches.item_ids(packed.batch_id)
    finally:
        bench_store.redis.close()


def parse_all(path: Path) -> int:
    count = 0
    for raw in items.file_lines(path):
        orjson.loads(raw)
        count += 1
    return count


def collect_file(
    target: RedisTarget, batch: Batch, path: Path, anthropic: list[str] | None = None
) -> tuple[Collector, CountingDispatcher]:
    """Collect a local output file; with ``anthropic`` (the batch's item ids), a file of
    Message Batches results, each line turned into OpenAI's as the adapter does."""
    settings = bench_settings(target)
    bench_store = store(target)
    dispatcher = CountingDispatcher()
    collector = Collector(bench_store, batch, dispatcher, settings)
    lines = items.file_lines(path)
    if anthropic is not None:
        ids = CustomIds(anthropic)
        lines = (result_line(raw, ids) for raw in lines)
    try:
        collector.settle_lines(lines)
    finally:
        collector.close()
        bench_store.redis.close()
    return collector, dispatcher


def run_collect(target: RedisTarget, count: int, repeats: int) -> Result:
    subject, baseline = Timings(count), Timings(count)
    script_s = 0.0
    with tempfile.TemporaryDirectory(prefix="batchrelay-bench-collect-") as scratch:
        directory = Path(scratch)
        output = directory / "output.jsonl"
        file_bytes = 0
        for _ in range(repeats):
            batch_id, item_ids = submitted_batch(target, directory, count)
            file_bytes = items.write_output_file(output, item_ids)
            baseline.seconds.append(timed(lambda: parse_all(output)))
            reader = store(target)
            batch = reader.batches.get(batch_id)
            reader.redis.close()
            target.reset_stats()
            start = time.perf_counter()
            collector, dispatcher = collect_file(target, batch, output)
            subject.seconds.append(time.perf_counter() - start)
            script_s = target.script_usec() / 1e6
            assert collector.report.succeeded == count, collector.report
            assert dispatcher.delivered_ids == count, dispatcher
    return throughput_result(
        "collect",
        subject,
        baseline,
        0.25,
        "Collector items/s / orjson.loads items/s",
        output_line_bytes=round(file_bytes / count, 1),
        server_script_s_last_run=round(script_s, 3),
        deliver_calls_per_run=dispatcher.deliver_calls,
    )


def run_collect_anthropic(target: RedisTarget, count: int, repeats: int) -> Result:
    """Collecting Message Batches results (each line turned into OpenAI's output format by
    the Anthropic adapter) against collecting OpenAI output lines of the same answers."""
    subject, baseline = Timings(count), Timings(count)
    with tempfile.TemporaryDirectory(prefix="batchrelay-bench-collect-") as scratch:
        directory = Path(scratch)
        output, results = directory / "output.jsonl", directory / "results.jsonl"
        for _ in range(repeats):
            for timings, anthropic in ((baseline, False), (subject, True)):
                batch_id, item_ids = submitted_batch(target, directory, count)
                if anthropic:
                    items.write_anthropic_results(results, item_ids)
                else:
                    items.write_output_file(output, item_ids)
                reader = store(target)
                batch = reader.batches.get(batch_id)
                reader.redis.close()
                start = time.perf_counter()
                path, ids = (results, item_ids) if anthropic else (output, None)
                collector, _ = collect_file(target, batch, path, ids)
                timings.seconds.append(time.perf_counter() - start)
                assert collector.report.succeeded == count, collector.report
    return throughput_result(
        "collect_anthropic",
        subject,
        baseline,
        0.5,
        "Collector items/s over Anthropic results / over OpenAI output lines",
    )
