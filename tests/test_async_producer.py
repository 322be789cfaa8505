"""What only AsyncProducer has: async iterables, flat memory on them, cancellable waits.
(Its behaviour otherwise is tests/test_producer.py's, run against both producers.)"""

from __future__ import annotations

import asyncio
import sys
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis import Redis

from producers import AsyncProducer, WaitTimeout
from producers.connection import connect_async
from producers.settings import Settings
from tests.support.items import chat
from worker.testing import reset_database

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 600}]}


async def generated(count: int) -> AsyncIterator[dict[str, Any]]:
    for n in range(count):
        if n % 1000 == 0:
            await asyncio.sleep(0)  # as a real source would, now and then
        yield {"id": f"a{n}", "body": BODY}


def test_submit_many_takes_an_async_generator_in_flat_memory(
    redis: Redis, settings: Settings
) -> None:
    """Five times the items, about the same peak besides the report's ids."""

    async def submit(count: int) -> float:
        async with AsyncProducer(connect_async(settings), settings) as producer:
            tracemalloc.start()
            report = await producer.submit_many(generated(count))
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert len(report.accepted) == count and report.ok
        ids = sys.getsizeof(report.accepted) + sum(map(sys.getsizeof, report.accepted))
        return (peak - ids) / 1e6

    held = []
    for count in (20_000, 100_000):
        reset_database(redis)
        held.append(asyncio.run(submit(count)))
    assert held[1] < held[0] * 1.3 + 1 and held[1] < 30, held
    assert redis.hget("br:{b45328f34613}:qstate", "length") == b"100000"


def test_a_cancelled_wait_leaves_no_connection_behind(redis: Redis, settings: Settings) -> None:
    def blocked_in_blpop() -> int:
        return sum(1 for client in redis.client_list() if client["cmd"] == "blpop")

    async def scenario() -> tuple[int, int, int]:
        async with AsyncProducer(connect_async(settings), settings) as producer:
            await producer.submit(chat("waited"))
            waiting = asyncio.create_task(producer.wait("waited"))
            for _ in range(100):
                await asyncio.sleep(0.02)
                if blocked_in_blpop():
                    break
            during = blocked_in_blpop()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await asyncio.sleep(0.1)
            pool = producer.redis.connection_pool
            in_use = len(pool._in_use_connections)
            return during, blocked_in_blpop(), in_use

    during, after, in_use = asyncio.run(scenario())
    assert during == 1, "the wait never blocked"
    assert after == 0, "a cancelled BLPOP still holds a connection at the server"
    assert in_use == 0, "the pool still counts a connection in use"


def test_wait_for_a_deadline(settings: Settings) -> None:
    async def scenario() -> None:
        async with AsyncProducer(connect_async(settings), settings) as producer:
            await producer.submit(chat("slow"))
            with pytest.raises(WaitTimeout):
                await producer.wait("slow", timeout=0.2)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(producer.wait("slow"), 0.2)

    asyncio.run(scenario())
