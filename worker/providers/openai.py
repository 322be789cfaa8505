"""The adapter of OpenAI-shaped Batch APIs (Files + Batches), through the official openai SDK.

OpenAI itself, Azure OpenAI's v1 API and the other providers shaped like it. The client reads
the provider's key from its environment variable (OPENAI_API_KEY by default) and its base URL
from the provider (else OPENAI_BASE_URL). Every SDK error leaves as an OpenAIError that says
whether a retry can help; a create whose outcome is unknown raises CreateOutcomeUnknown so
the caller reconciles (by our id in the batch's metadata) instead of creating a twin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import openai
from openai import OpenAI
from openai.types import Batch as OpenAIBatch

from producers.errors import ConfigurationError, OpenAIError
from producers.providers import Provider
from producers.settings import Settings
from worker.providers.base import (
    CreateOutcomeUnknown,
    RemoteBatch,
    RemoteFile,
    ResultSource,
    api_key,
    retry_after,
    split_lines,
)
from worker.store import Batch

log = logging.getLogger("batchrelay.openai")
METADATA_KEY = "batchrelay_batch_id"
# How far before the intent a twin may have been stamped created (clock skew, a create call
# that hung): the metadata names the batch, so a wide margin costs only a longer listing.
RECONCILE_MARGIN = 3600.0
STREAM_CHUNK = 1 << 20
FILE_FIELDS = ("input_file_id", "output_file_id", "error_file_id")


class HasId(Protocol):
    id: str


T = TypeVar("T", bound=HasId)


def translate(error: Exception, action: str) -> OpenAIError:
    """Map an SDK exception to our error tree, keeping only what is safe to log."""
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        retryable = status in (408, 409, 429) or status >= 500
        return OpenAIError(
            f"{action}: HTTP {status}: {error.message}",
            retryable=retryable,
            retry_after=retry_after(error.response.headers),
        )
    if isinstance(error, openai.APIConnectionError):
        return OpenAIError(f"{action}: {type(error).__name__}", retryable=True)
    return OpenAIError(f"{action}: {type(error).__name__}: {error}", retryable=False)


def remote(batch: OpenAIBatch) -> RemoteBatch:
    counts = batch.request_counts
    errors = [e.model_dump() for e in (batch.errors.data or [])] if batch.errors else []
    return RemoteBatch(
        id=batch.id,
        status=batch.status,
        total=counts.total if counts else 0,
        completed=counts.completed if counts else 0,
        failed=counts.failed if counts else 0,
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
        errors=errors,
        expires_at=batch.expires_at or 0,
        created_at=float(batch.created_at),
    )


def once_each(listing: Iterable[T]) -> Iterator[T]:
    """A listing's objects until one comes again: a provider that pages by something other
    than ``after`` (Groq: ``cursor``) would hand the SDK its first page forever."""
    seen: set[str] = set()
    for item in listing:
        if item.id in seen:
            return
        seen.add(item.id)
        yield item


class OpenAIBatches:
    """Files and Batches calls with our error semantics."""

    kind = "openai"
    identifies_batches = True

    def __init__(
        self, settings: Settings, provider: Provider | None = None, client: OpenAI | None = None
    ) -> None:
        self.settings = settings
        self.provider = provider or Provider(name="openai", kind="openai")
        self.name = self.provider.name
        # A twin is told apart by its metadata and cancelled, so by default none is waited.
        self.listing_lag = self.provider.listing_lag or 0.0
        self._client = client
        self._expiry_accepted = True  # until the provider refuses expires_after once

    @property
    def completion_window(self) -> str:
        return self.provider.completion_window or self.settings.completion_window

    @property
    def client(self) -> OpenAI:
        if self._client is None:
            try:
                self._client = OpenAI(
                    api_key=api_key(self.provider),
                    base_url=self.provider.base_url,  # None: OPENAI_BASE_URL, else OpenAI's
                    timeout=self.settings.openai_timeout,
                    max_retries=self.settings.openai_max_retries,
                )
            except openai.OpenAIError as error:
                raise ConfigurationError(f"provider {self.name}: {error}") from None
        return self._client

    def upload(self, path: Path) -> str:
        """Upload a JSONL file with purpose batch; returns the file id. The file expires after
        BATCHRELAY_FILE_TTL at the provider, a safety net should batchrelay never delete it;
        a provider that refuses ``expires_after`` gets uploads without it from then on."""
        try:
            return self._upload(path, self._expiry_accepted)
        except openai.BadRequestError as error:
            if not (self._expiry_accepted and "expires_after" in f"{error.param} {error.message}"):
                raise translate(error, "files.create") from None
            log.warning("%s refuses expires_after; uploading without it from now on", self.name)
            self._expiry_accepted = False
        except openai.OpenAIError as error:
            raise translate(error, "files.create") from None
        try:
            return self._upload(path, with_expiry=False)
        except openai.OpenAIError as error:
            raise translate(error, "files.create") from None

    def _upload(self, path: Path, with_expiry: bool) -> str:
        expiry: dict[str, Any] = {}
        if with_expiry:
            expiry["expires_after"] = {"anchor": "created_at", "seconds": self.settings.file_ttl}
        with path.open("rb") as handle:
            return self.client.files.create(file=(path.name, handle), purpose="batch", **expiry).id

    def create(
        self,
        batch: Batch,
        file_id: str | None,
        path: Path | None,
        keep_alive: Callable[[], object],
    ) -> RemoteBatch:
        """Create the batch once: no SDK retries here, an unknown outcome is reconciled."""
        assert file_id is not None, "an OpenAI batch is created from an uploaded file"
        try:
            created = self.client.with_options(max_retries=0).batches.create(
                input_file_id=file_id,
                endpoint=batch.get("endpoint"),  # type: ignore[arg-type]
                completion_window=self.completion_window,  # type: ignore[arg-type]
                metadata={METADATA_KEY: batch.id, "source": "batchrelay"},
            )
        except (openai.APIConnectionError, openai.InternalServerError) as error:
            raise CreateOutcomeUnknown(
                f"batches.create: {type(error).__name__}", retryable=True
            ) from None
        except openai.OpenAIError as error:
            raise translate(error, "batches.create") from None
        return remote(created)

    def find(self, batch: Batch, intent: float, taken: Callable[[str], bool]) -> list[RemoteBatch]:
        """Batches carrying our id in their metadata, created since a margin before the
        intent (oldest first); the metadata names the batch, so ``taken`` is not needed."""
        since = intent - RECONCILE_MARGIN
        found: list[RemoteBatch] = []
        try:
            for candidate in once_each(self.client.batches.list(limit=100)):
                if candidate.created_at < since:
                    break
                if (candidate.metadata or {}).get(METADATA_KEY) == batch.id:
                    found.append(remote(candidate))
        except openai.OpenAIError as error:
            raise translate(error, "batches.list") from None
        return sorted(found, key=lambda b: (b.created_at, b.id))

    def retrieve(self, provider_id: str) -> RemoteBatch:
        try:
            return remote(self.client.batches.retrieve(provider_id))
        except openai.OpenAIError as error:
            raise translate(error, "batches.retrieve") from None

    def cancel(self, provider_id: str) -> RemoteBatch:
        try:
            return remote(self.client.batches.cancel(provider_id))
        except openai.OpenAIError as error:
            raise translate(error, "batches.cancel") from None

    def result_sources(
        self, batch: Batch, item_ids: Callable[[], Iterable[str]]
    ) -> list[ResultSource]:
        """The output file, then the error file: their lines are already OpenAI's."""
        return [
            (f"{name} {batch.get(name)}", partial(self.lines, batch.get(name)))
            for name in ("output_file_id", "error_file_id")
            if batch.get(name)
        ]

    def lines(self, file_id: str) -> Iterator[bytes]:
        """Stream a file's lines without holding the file in memory."""
        try:
            with self.client.files.with_streaming_response.content(file_id) as response:
                yield from split_lines(response.iter_bytes(STREAM_CHUNK), "files.content")
        except openai.OpenAIError as error:
            raise translate(error, "files.content") from None

    def delete_files(self, batch: Batch) -> int:
        """Delete the batch's input, output and error files."""
        file_ids = [batch.get(name) for name in FILE_FIELDS if batch.get(name)]
        for file_id in file_ids:
            self.delete_file(file_id)
        return len(file_ids)

    def delete_file(self, file_id: str) -> None:
        """Delete a file; one that is gone already (expired, deleted before) counts as done."""
        try:
            self.client.files.delete(file_id)
        except openai.NotFoundError:
            return
        except openai.OpenAIError as error:
            raise translate(error, "files.delete") from None

    def files(self) -> Iterator[RemoteFile]:
        """Every file the provider holds for the key, newest first, page by page."""
        try:
            for found in once_each(self.client.files.list(limit=10_000)):
                yield RemoteFile(
                    found.id, found.filename, found.purpose, found.bytes or 0, found.created_at
                )
        except openai.OpenAIError as error:
            raise translate(error, "files.list") from None
