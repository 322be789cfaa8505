"""Objects every benchmark builds the same way: settings, producer, store, a counting dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from bench.redis_target import RedisTarget
from producers.producer import Producer
from producers.settings import Settings
from worker.store import Store

NAMESPACE = "br"


def bench_settings(target: RedisTarget) -> Settings:
    return Settings.from_dsn(target.url, namespace=NAMESPACE)


def producer(target: RedisTarget) -> Producer:
    settings = bench_settings(target)
    return Producer(target.client(), settings)


def store(target: RedisTarget) -> Store:
    settings = bench_settings(target)
    return Store(target.client(), settings)


@dataclass
class CountingDispatcher:
    """A lifecycle Dispatcher that only counts what it is asked to do."""

    deliver_calls: int = 0
    delivered_ids: int = 0

    def pack(self, tag: str) -> None: ...

    def submit(self, batch_id: str) -> None: ...

    def collect(self, batch_id: str) -> None: ...

    def deliver(self, _tag: str, item_ids: list[str]) -> None:
        self.deliver_calls += 1
        self.delivered_ids += len(item_ids)
