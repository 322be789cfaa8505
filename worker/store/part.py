"""What every sub-store shares: the store's client, settings, keys and scripts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from producers.keys import PartitionKeys

if TYPE_CHECKING:
    from worker.store import Store


class StorePart:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis
        self.settings = store.settings
        self.keys = store.keys
        self.scripts = store.scripts

    def keys_of(self, tag: str) -> PartitionKeys:
        return self.keys.partition(tag)
