"""Producer.submit_many and Producer.submit against raw LPUSH of the same pre-serialized lines."""

from __future__ import annotations

import asyncio
from contextlib import closing

from bench import items
from bench.common import bench_settings, producer
from bench.redis_target import RedisTarget
from bench.result import Result, Timings, throughput_result, timed
from producers import AsyncProducer
from producers.connection import connect_async

BASELINE_KEY = "bench:raw"
RAW_PER_ROUND_TRIP = 1000


def raw_pipelined(target: RedisTarget, lines: list[bytes]) -> float:
    """LPUSH every line, 1,000 commands per pipelined round trip."""
    target.flush()
    with target.client() as client:

        def push() -> None:
            for start in range(0, len(lines), RAW_PER_ROUND_TRIP):
                pipe = client.pipeline(transaction=False)
                for line in lines[start : start + RAW_PER_ROUND_TRIP]:
                    pipe.lpush(BASELINE_KEY, line)
                pipe.execute()

        seconds = timed(push)
        assert client.llen(BASELINE_KEY) == len(lines)
    return seconds


def raw_one_by_one(target: RedisTarget, lines: list[bytes]) -> float:
    """One LPUSH round trip per line."""
    target.flush()
    with target.client() as client:

        def push() -> None:
            for line in lines:
                client.lpush(BASELINE_KEY, line)

        seconds = timed(push)
        assert client.llen(BASELINE_KEY) == len(lines)
    return seconds


def run_submit_many(target: RedisTarget, count: int, repeats: int) -> Result:
    """``Producer.submit_many`` of ``count`` chat items vs pipelined raw LPUSH."""
    work = items.chat_items(count)
    lines = items.request_lines(count)
    subject, baseline = Timings(count), Timings(count)
    script_s = 0.0
    for _ in range(repeats):
        baseline.seconds.append(raw_pipelined(target, lines))
        target.flush()
        target.reset_stats()
        with closing(producer(target)) as prod:
            report = None

            def submit() -> None:
                nonlocal report
                report = prod.submit_many(work)

            subject.seconds.append(timed(submit))
            assert report is not None and len(report.accepted) == count, "not every item accepted"
        script_s = target.script_usec() / 1e6
    return throughput_result(
        "submit_many",
        subject,
        baseline,
        0.5,
        "Producer.submit_many items/s / raw pipelined LPUSH items/s",
        line_bytes=round(sum(map(len, lines)) / count, 1),
        server_script_s_last_run=round(script_s, 3),
    )


def run_submit_one(target: RedisTarget, count: int, repeats: int) -> Result:
    """``Producer.submit`` one item at a time vs one raw LPUSH round trip per item."""
    work = items.chat_items(count)
    lines = items.request_lines(count)
    subject, baseline = Timings(count), Timings(count)
    for _ in range(repeats):
        baseline.seconds.append(raw_one_by_one(target, lines))
        target.flush()
        with closing(producer(target)) as prod:

            def submit() -> None:
                for item in work:
                    prod.submit(item)

            subject.seconds.append(timed(submit))
    return throughput_result(
        "submit_one",
        subject,
        baseline,
        0.5,
        "Producer.submit items/s / one raw LPUSH per item items/s",
    )


def run_async_submit_many(target: RedisTarget, count: int, repeats: int) -> Result:
    """``AsyncProducer.submit_many`` of ``count`` chat items vs ``Producer.submit_many``."""
    work = items.chat_items(count)
    subject, baseline = Timings(count), Timings(count)

    async def submit_async() -> None:
        settings = bench_settings(target)
        async with AsyncProducer(connect_async(settings), settings) as producer:
            report = await producer.submit_many(work)
        assert len(report.accepted) == count, "not every item accepted"

    for _ in range(repeats):
        target.flush()
        with closing(producer(target)) as prod:
            baseline.seconds.append(timed(lambda p=prod: p.submit_many(work)))  # type: ignore[misc]
        target.flush()
        subject.seconds.append(timed(lambda: asyncio.run(submit_async())))
    return throughput_result(
        "async_submit_many",
        subject,
        baseline,
        0.8,
        "AsyncProducer.submit_many items/s / Producer.submit_many items/s",
    )
