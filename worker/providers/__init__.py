"""The provider boundary: one adapter per provider account (worker/providers/openai.py for
OpenAI-shaped Batch APIs, anthropic.py for Message Batches), chosen by a batch's partition."""

from __future__ import annotations

from collections.abc import Callable

from producers.keys import batch_partition
from producers.providers import Provider
from producers.settings import Settings
from worker.providers.base import BatchProvider, CreateOutcomeUnknown, ForeignBatch, RemoteBatch

__all__ = [
    "BatchProvider",
    "CreateOutcomeUnknown",
    "ForeignBatch",
    "ProviderRegistry",
    "RemoteBatch",
]


def adapter(settings: Settings, provider: Provider) -> BatchProvider:
    """The adapter of one provider (its SDK is imported only when it is needed)."""
    if provider.kind == "anthropic":
        from worker.providers.anthropic import AnthropicBatches

        return AnthropicBatches(settings, provider)
    from worker.providers.openai import OpenAIBatches

    return OpenAIBatches(settings, provider)


class ProviderRegistry:
    """The adapters of the configured providers, built once each, found by a partition's
    provider (``provider_of`` maps a partition tag to its provider's name)."""

    def __init__(
        self,
        settings: Settings,
        provider_of: Callable[[str], str],
        adapters: dict[str, BatchProvider] | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.provider_config()
        self.provider_of = provider_of
        self._adapters: dict[str, BatchProvider] = dict(adapters or {})
        self._partitions: dict[str, str] = {}

    def named(self, name: str) -> BatchProvider:
        found = self._adapters.get(name)
        if found is None:
            provider = self.config.provider(name)
            found = self._adapters[name] = adapter(self.settings, provider)
        return found

    def of_partition(self, tag: str) -> BatchProvider:
        name = self._partitions.get(tag)
        if name is None:
            name = self._partitions[tag] = self.provider_of(tag)
        return self.named(name)

    def of_batch(self, batch_id: str) -> BatchProvider:
        return self.of_partition(batch_partition(batch_id))

    def all(self) -> list[BatchProvider]:
        """Every configured provider's adapter."""
        return [self.named(name) for name in self.config.providers]
