"""AsyncProducer behind Producer's sync interface, so the SDK's behavioural tests run
against both: each call runs on an event loop of its own, in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from producers import AsyncProducer
from producers.connection import connect_async
from producers.settings import Settings

T = TypeVar("T")


class AsyncFacade:
    """Calls an AsyncProducer as if it were a Producer."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.inner: AsyncProducer = self.call(self._make(settings))
        self.keys = self.inner.keys
        self.settings = settings

    @staticmethod
    async def _make(settings: Settings) -> AsyncProducer:
        return AsyncProducer(connect_async(settings), settings)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        return lambda *args, **kwargs: self.call(method(*args, **kwargs))

    def close(self) -> None:
        self.call(self.inner.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
