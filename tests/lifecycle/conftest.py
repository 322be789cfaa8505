"""The lifecycle in this process: a real Redis, the emulator app through an in-process
transport (the official `openai` SDK as its client), a recording dispatcher in Celery's place.
Each step is called as its Celery task calls it; a test takes a second or less."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from emulator.testing import InProcessEmulator, in_process_emulator
from producers import Producer
from producers.settings import Settings
from tests.support.dispatch import RecordingDispatcher
from worker.lifecycle.collecting import collect
from worker.lifecycle.delivering import deliver
from worker.lifecycle.packing import due_partitions, pack
from worker.lifecycle.polling import poll
from worker.lifecycle.submitting import submit
from worker.providers import BatchProvider, ProviderRegistry
from worker.providers.anthropic import AnthropicBatches
from worker.providers.openai import OpenAIBatches
from worker.store import Store
from worker.webhooks import WebhookSender


@dataclass
class Sent:
    """A Celery callback the delivery would have sent."""

    task: str
    queue: str
    result: dict[str, Any]
    key: str


@dataclass
class Pipeline:
    """Every part a worker has, driven step by step."""

    settings: Settings
    store: Store
    producer: Producer
    emulator: InProcessEmulator
    providers: ProviderRegistry
    dispatcher: RecordingDispatcher
    spool: Path
    sent: list[Sent] = field(default_factory=list)

    def pack_and_submit(self) -> list[str]:
        """One tick, and a pack and a submit for every partition due; the batches' ids."""
        batch_ids = []
        for tag in due_partitions(self.store, self.settings, time.time()):
            packed = pack(self.store, self.settings, tag, self.spool)
            if packed is not None:
                assert submit(
                    self.store,
                    self.providers.of_batch(packed.batch_id),
                    packed.batch_id,
                    self.spool,
                    packed.path,
                )
                batch_ids.append(packed.batch_id)
        return batch_ids

    def poll_until_finished(self, timeout: float = 10) -> list[str]:
        """Poll until some batch finished at the provider; collect each one that did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            finished = poll(self.store, self.providers, self.settings).terminal
            for batch_id in finished:
                api = self.providers.of_batch(batch_id)
                collect(self.store, api, self.dispatcher, self.settings, batch_id)
            if finished:
                return finished
            time.sleep(0.02)
        raise AssertionError("no batch finished")

    def deliver(self) -> None:
        """Deliver what collection handed to delivery, as batchrelay.deliver would."""

        def send(task: str, queue: str, result: dict[str, Any], key: str) -> None:
            self.sent.append(Sent(task, queue, result, key))

        webhooks = WebhookSender(self.settings)
        by_tag = {p.tag for p in self.store.partitions.all()}
        ids, self.dispatcher.delivered = self.dispatcher.delivered, []
        for tag in by_tag:
            deliver(self.store, self.settings, send, webhooks, tag, ids)

    def reconfigured(self, **settings: Any) -> Pipeline:
        """The same Redis and emulator under other settings (providers, limits)."""
        changed = self.settings.model_copy(update=settings)
        return build(self.store.redis, changed, self.emulator, self.spool)

    def run(self) -> list[str]:
        """Submit what is queued, wait for its batches, collect and deliver them."""
        batch_ids = self.pack_and_submit()
        if not batch_ids:  # retries promoted by this tick are due at the next one
            time.sleep(0.01)
            batch_ids = self.pack_and_submit()
        assert batch_ids, "nothing was due"
        done: set[str] = set()
        while not set(batch_ids) <= done:
            done.update(self.poll_until_finished())
        self.deliver()
        return batch_ids


FAST = {
    "flush_after": 0.001,
    "retry_backoff": 0.0,
    "retry_backoff_max": 0.0,
    "token_backoff": 0.0,
    "token_backoff_max": 0.0,
    "lease_seconds": 5.0,
}


def build(redis: Redis, settings: Settings, emulator: InProcessEmulator, spool: Path) -> Pipeline:
    """A pipeline whose every provider is a side of the one emulator (OpenAI-shaped providers
    its OpenAI side, Anthropic ones its Anthropic side)."""
    store = Store(redis, settings)
    adapters: dict[str, BatchProvider] = {}
    for name, provider in settings.provider_config().providers.items():
        if provider.kind == "anthropic":
            client = emulator.anthropic_client(max_retries=0)
            adapters[name] = AnthropicBatches(settings, provider, client=client)
        else:
            openai = emulator.client(max_retries=0)
            adapters[name] = OpenAIBatches(settings, provider, client=openai)
    providers = ProviderRegistry(settings, lambda tag: store.partitions.get(tag).provider, adapters)
    return Pipeline(
        settings,
        store,
        Producer(redis, settings),
        emulator,
        providers,
        RecordingDispatcher(),
        spool,
    )


@pytest.fixture
def pipeline(redis: Redis, redis_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    settings = Settings(redis_url=redis_url, **FAST)  # type: ignore[arg-type]
    with in_process_emulator(
        batch_seconds=0.1, validating_seconds=0.01, finalizing_seconds=0.01, seed=7
    ) as emulator:
        yield build(redis, settings, emulator, tmp_path)
