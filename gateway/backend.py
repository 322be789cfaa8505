"""The gateway's sync side, shared by the batch routes (FastAPI's thread pool) and the janitor
thread: one Redis client, the worker's store, the producer SDK and the providers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.batchstore import BatchStore
from producers.connection import connect
from producers.keys import Keys
from producers.producer import Producer
from producers.settings import Settings
from worker.providers import ProviderRegistry
from worker.store import Store

if TYPE_CHECKING:
    from worker.tasks.dispatcher import CeleryDispatcher


class Backend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = connect(settings)
        self.keys = Keys(settings.namespace)
        self.store = Store(self.redis, settings)
        self.batches = BatchStore(self.redis, self.keys)
        self.producer = Producer(self.redis, settings)
        self.route = settings.provider_config().route
        self.providers = ProviderRegistry(
            settings, lambda tag: self.store.partitions.get(tag).provider
        )

    def dispatcher(self) -> CeleryDispatcher:
        """The worker's tasks, sent through Celery's broker (imported on first use: only the
        webhook receiver sends any)."""
        from worker.tasks.dispatcher import dispatcher

        return dispatcher

    def close(self) -> None:
        self.redis.close()
