"""What every provider adapter offers the lifecycle, and the batch as the lifecycle sees it.

Each adapter (worker/providers/openai.py, anthropic.py) talks to one kind of Batch API through
its official SDK and answers in these terms: a RemoteBatch whose status uses OpenAI's words,
and result lines in OpenAI's output format, so packing, polling, collecting and retrying are
the same code for every provider.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson

from producers.errors import ConfigurationError, OpenAIError
from producers.providers import Provider
from worker.store import Batch

try:  # the anthropic SDK runs on httpx2, the openai SDK on httpx
    import httpx2

    TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ImportError:  # pragma: no cover - the worker extra installs both
    TRANSPORT_ERRORS = (httpx.HTTPError,)

ResultSource = tuple[str, Callable[[], Iterator[bytes]]]
"""A named stream of result lines (an output file, an error file, a results URL)."""


class CreateOutcomeUnknown(OpenAIError):
    """A create call may or may not have created the batch (timeout, reset, 5xx)."""


class ForeignBatch(OpenAIError):
    """A batch found by its looks after an unknown create turned out to be someone else's."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def api_key(provider: Provider) -> str:
    """The provider's key, from its environment variable; never another provider's key by
    the SDK's own fallback (that would send one account's key to another host)."""
    key = os.environ.get(provider.key_env)
    if not key:
        raise ConfigurationError(f"provider {provider.name}: {provider.key_env} is not set")
    return key


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds a Retry-After header asks for, when it gives a number."""
    try:
        return max(0.0, float(headers.get("retry-after") or ""))
    except ValueError:
        return None


def split_lines(chunks: Iterable[bytes], action: str) -> Iterator[bytes]:
    """The non-blank lines of a stream of chunks, split at b"\n" only: JSON strings may hold
    U+2028 and the like, which text line splitters break at. A transport error midway is a
    retryable OpenAIError (the SDKs do not wrap errors raised while streaming)."""
    rest = b""
    try:
        for chunk in chunks:
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            yield from (p for p in parts if p.strip())
    except TRANSPORT_ERRORS as error:
        raise OpenAIError(f"{action}: {type(error).__name__}", retryable=True) from None
    if rest.strip():
        yield rest


@dataclass(frozen=True)
class RemoteBatch:
    """A batch as its provider reports it, in OpenAI's words (``status`` is one of OpenAI's
    eight batch statuses)."""

    id: str
    status: str
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    expires_at: int = 0
    created_at: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The fields of our batch that a poll records."""
        first = self.errors[0] if self.errors else {}
        return {
            "errors": orjson.dumps(self.errors).decode(),
            "error_code": first.get("code") or "",
            "error_message": first.get("message") or "",
            "provider_status": self.status,
            "provider_total": self.total,
            "provider_completed": self.completed,
            "provider_failed": self.failed,
            "output_file_id": self.output_file_id or "",
            "error_file_id": self.error_file_id or "",
            "expires_at": self.expires_at,
            "polled_at": time.time(),
        }


@dataclass(frozen=True)
class RemoteFile:
    """A file the provider holds for the key."""

    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: float


class BatchProvider(Protocol):
    """One provider account, as the lifecycle uses it. An API error leaves as an OpenAIError
    saying whether a retry may help; a provider without its key raises ConfigurationError."""

    name: str
    kind: str
    identifies_batches: bool
    """Whether a batch at the provider carries our batch id (its metadata), so a twin can be
    told apart from a stranger's batch and cancelled."""

    def upload(self, path: Path) -> str | None:
        """Upload a packed batch file; its file id, or None when the provider takes the
        requests in the create call itself."""
        ...

    listing_lag: float
    """Seconds a batch just created may be missing from the listing; after a create whose
    outcome was unknown, no other create is made within them."""

    def create(
        self,
        batch: Batch,
        file_id: str | None,
        path: Path | None,
        keep_alive: Callable[[], object],
    ) -> RemoteBatch:
        """Create the batch once, never retried blindly; raise CreateOutcomeUnknown when it
        may or may not exist. ``keep_alive`` renews the batch's lease during a long call."""
        ...

    def find(self, batch: Batch, intent: float, taken: Callable[[str], bool]) -> list[RemoteBatch]:
        """Batches at the provider that may be ``batch``, whose create call was intended at
        ``intent`` (the adapter allows for clock skew), not ``taken`` by another batch of
        ours; oldest first."""
        ...

    def retrieve(self, provider_id: str) -> RemoteBatch: ...

    def cancel(self, provider_id: str) -> RemoteBatch: ...

    def result_sources(
        self, batch: Batch, item_ids: Callable[[], Iterable[str]]
    ) -> list[ResultSource]:
        """The finished batch's result lines, in OpenAI's output format, by source
        (``item_ids`` reads the batch's item ids, for a provider that needs them)."""
        ...

    def delete_files(self, batch: Batch) -> int:
        """Delete what the finished batch left at the provider; how many things it was."""
        ...

    def delete_file(self, file_id: str) -> None:
        """Delete one file; one that is gone already counts as done."""
        ...

    def files(self) -> Iterator[RemoteFile]:
        """Every file the provider holds for the key (none, where it has no files)."""
        ...
