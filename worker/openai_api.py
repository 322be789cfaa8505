"""The one module that talks to the Batch API, through the official openai SDK.

The SDK reads OPENAI_API_KEY and OPENAI_BASE_URL itself. Every SDK error leaves this module as
an OpenAIError that says whether a retry can help; a create whose outcome is unknown raises
CreateOutcomeUnknown so the caller reconciles instead of creating a twin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
from openai import OpenAI
from openai.types import Batch as OpenAIBatch
from openai.types import FileObject

from producers.errors import ConfigurationError, OpenAIError
from producers.settings import Settings

log = logging.getLogger("batchrelay.openai")
METADATA_KEY = "batchrelay_batch_id"
STREAM_CHUNK = 1 << 20


class CreateOutcomeUnknown(OpenAIError):
    """batches.create may or may not have created the batch (timeout, reset, 5xx)."""


def translate(error: Exception, action: str) -> OpenAIError:
    """Map an SDK exception to our error tree, keeping only what is safe to log."""
    if isinstance(error, openai.APIStatusError):
        retry_after = error.response.headers.get("retry-after")
        status = error.status_code
        retryable = status in (408, 409, 429) or status >= 500
        wait = (
            float(retry_after)
            if retry_after and retry_after.replace(".", "", 1).isdigit()
            else None
        )
        return OpenAIError(
            f"{action}: HTTP {status}: {error.message}", retryable=retryable, retry_after=wait
        )
    if isinstance(error, openai.APIConnectionError):
        return OpenAIError(f"{action}: {type(error).__name__}", retryable=True)
    return OpenAIError(f"{action}: {type(error).__name__}: {error}", retryable=False)


class BatchAPI:
    """Files and Batches calls with our error semantics."""

    def __init__(self, settings: Settings, client: OpenAI | None = None) -> None:
        self.settings = settings
        self._client = client
        self._expiry_accepted = True  # until the provider refuses expires_after once

    @property
    def client(self) -> OpenAI:
        if self._client is None:
            try:
                self._client = OpenAI(
                    timeout=self.settings.openai_timeout,
                    max_retries=self.settings.openai_max_retries,
                )
            except openai.OpenAIError as error:
                raise ConfigurationError(f"OpenAI client: {error}") from None
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
            log.warning("the provider refuses expires_after; uploading without it from now on")
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

    def create(self, file_id: str, endpoint: str, batch_id: str) -> OpenAIBatch:
        """Create the batch once: no SDK retries here, an unknown outcome is reconciled."""
        try:
            return self.client.with_options(max_retries=0).batches.create(
                input_file_id=file_id,
                endpoint=endpoint,  # type: ignore[arg-type]
                completion_window=self.settings.completion_window,  # type: ignore[arg-type]
                metadata={METADATA_KEY: batch_id, "source": "batchrelay"},
            )
        except (openai.APIConnectionError, openai.InternalServerError) as error:
            raise CreateOutcomeUnknown(
                f"batches.create: {type(error).__name__}", retryable=True
            ) from None
        except openai.OpenAIError as error:
            raise translate(error, "batches.create") from None

    def find(self, batch_id: str, since: float) -> list[OpenAIBatch]:
        """Batches carrying our id in their metadata, created after ``since`` (oldest first)."""
        found: list[OpenAIBatch] = []
        try:
            for batch in self.client.batches.list(limit=100):
                if batch.created_at < since:
                    break
                if (batch.metadata or {}).get(METADATA_KEY) == batch_id:
                    found.append(batch)
        except openai.OpenAIError as error:
            raise translate(error, "batches.list") from None
        return sorted(found, key=lambda b: (b.created_at, b.id))

    def retrieve(self, provider_id: str) -> OpenAIBatch:
        try:
            return self.client.batches.retrieve(provider_id)
        except openai.OpenAIError as error:
            raise translate(error, "batches.retrieve") from None

    def cancel(self, provider_id: str) -> OpenAIBatch:
        try:
            return self.client.batches.cancel(provider_id)
        except openai.OpenAIError as error:
            raise translate(error, "batches.cancel") from None

    def lines(self, file_id: str) -> Iterator[bytes]:
        """Stream a file's lines without holding the file in memory."""
        try:
            with self.client.files.with_streaming_response.content(file_id) as response:
                rest = b""
                for chunk in response.iter_bytes(STREAM_CHUNK):
                    parts = (rest + chunk).split(b"\n")
                    rest = parts.pop()
                    yield from (p for p in parts if p.strip())
                if rest.strip():
                    yield rest
        except openai.OpenAIError as error:
            raise translate(error, "files.content") from None

    def delete_file(self, file_id: str) -> None:
        """Delete a file; one that is gone already (expired, deleted before) counts as done."""
        try:
            self.client.files.delete(file_id)
        except openai.NotFoundError:
            return
        except openai.OpenAIError as error:
            raise translate(error, "files.delete") from None

    def files(self) -> Iterator[FileObject]:
        """Every file the provider holds for the key, newest first, page by page."""
        try:
            yield from self.client.files.list(limit=10_000)
        except openai.OpenAIError as error:
            raise translate(error, "files.list") from None


def batch_summary(batch: OpenAIBatch) -> dict[str, Any]:
    """The fields of an OpenAI Batch object we record on every poll."""
    counts = batch.request_counts
    errors = [e.model_dump() for e in (batch.errors.data or [])] if batch.errors else []
    first = errors[0] if errors else {}
    return {
        "errors": orjson.dumps(errors).decode(),
        "error_code": first.get("code") or "",
        "error_message": first.get("message") or "",
        "provider_status": batch.status,
        "provider_total": counts.total if counts else 0,
        "provider_completed": counts.completed if counts else 0,
        "provider_failed": counts.failed if counts else 0,
        "output_file_id": batch.output_file_id or "",
        "error_file_id": batch.error_file_id or "",
        "expires_at": batch.expires_at or 0,
        "polled_at": time.time(),
    }
