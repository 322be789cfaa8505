"""Per-process objects the tasks share: Redis client, store, providers, webhook client.

Built lazily in each worker process (after the prefork), never at import time.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from producers.connection import connect
from producers.data_format import ensure_format
from producers.settings import Settings
from worker.providers import ProviderRegistry
from worker.store import Store
from worker.webhooks import WebhookSender


@dataclass
class Runtime:
    settings: Settings
    store: Store
    providers: ProviderRegistry
    webhooks: WebhookSender
    directory: Path


@cache
def _runtime(_pid: int) -> Runtime:  # cached per process id: a forked child builds its own
    settings = Settings()
    redis = connect(settings)
    store = Store(redis, settings)
    ensure_format(redis, store.keys, settings.redis_url)
    directory = Path(os.environ.get("BATCHRELAY_SPOOL_DIR") or tempfile.gettempdir()) / "batchrelay"
    directory.mkdir(parents=True, exist_ok=True)
    providers = ProviderRegistry(settings, lambda tag: store.partitions.get(tag).provider)
    return Runtime(settings, store, providers, WebhookSender(settings), directory)


def runtime() -> Runtime:
    """This process's runtime (a forked child builds its own)."""
    return _runtime(os.getpid())
