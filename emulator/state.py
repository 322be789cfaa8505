"""Everything one emulator process holds: settings, live faults, files, batches, runners (one
for OpenAI batches, one for Anthropic's Message Batches, each with its own file store)."""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, cast

from starlette.requests import Request

from emulator.batches import BatchStore
from emulator.config import EmulatorSettings, Faults
from emulator.files import FileStore
from emulator.message_batches import MessageBatchStore
from emulator.message_results import MessageBatchJob
from emulator.processor import BatchRunner, RunnerContext

if TYPE_CHECKING:
    from emulator.forward import Forwarder
    from emulator.webhooks import WebhookSender


class EmulatorState:
    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.faults = settings.faults.model_copy()
        self.batch_rng = random.Random()
        self.http_rng = random.Random()
        self.reseed()
        self.owns_data_dir = settings.data_dir is None
        if settings.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="batchrelay-emulator-"))
        else:
            self.data_dir = settings.data_dir
            self.data_dir.mkdir(parents=True, exist_ok=True)
        self.files = FileStore(self.data_dir, settings.file_ttl_scale)
        self.batches = BatchStore()
        self.forwarder: Forwarder | None = None
        if settings.forward_url:
            # httpx costs a quarter second to import; only forwarding needs it.
            from emulator.forward import Forwarder

            self.forwarder = Forwarder(
                settings.forward_url,
                settings.forward_concurrency,
                settings.forward_timeout,
                settings.forward_api_key,
            )
        self.webhooks: WebhookSender | None = None
        if settings.webhook_url is not None and settings.webhook_secret is not None:
            from emulator.webhooks import WebhookSender

            self.webhooks = WebhookSender(settings.webhook_url, settings.webhook_secret)
        on_finished = self.webhooks.batch_finished if self.webhooks is not None else None
        self.runner = BatchRunner(
            RunnerContext(settings, self.files, self.data_dir / "work", self.forwarder, on_finished)
        )
        # A store of their own keeps Message Batches' inner files out of GET /v1/files.
        messages_dir = self.data_dir / "messages"
        self.message_files = FileStore(messages_dir, settings.file_ttl_scale)
        self.message_batches = MessageBatchStore()
        self.message_runner = BatchRunner(
            RunnerContext(settings, self.message_files, messages_dir / "work", self.forwarder),
            MessageBatchJob,
        )

    def reseed(self) -> None:
        seed = self.settings.seed
        # Separate generators: how often clients poll must not shift the batches' draws.
        self.batch_rng.seed(seed)
        self.http_rng.seed(None if seed is None else seed + 1)

    def child_rng(self) -> random.Random:
        """A generator of its own for one batch, still reproducible under `--seed`."""
        return random.Random(self.batch_rng.getrandbits(64))

    async def reset(self, *, data: bool) -> None:
        self.faults = Faults()
        self.reseed()
        if data:
            await self.runner.stop_all()
            await self.message_runner.stop_all()
            self.batches.clear()
            self.files.clear()
            self.message_batches.clear()
            self.message_files.clear()

    async def close(self) -> None:
        await self.runner.stop_all()
        await self.message_runner.stop_all()
        if self.forwarder is not None:
            await self.forwarder.aclose()
        if self.webhooks is not None:
            await self.webhooks.aclose()
        if self.owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def state_of(request: Request) -> EmulatorState:
    return cast(EmulatorState, request.app.state.emulator)
