"""The adapter of Anthropic's Message Batches, through the official anthropic SDK.

There is no file to upload: the create call carries the requests, streamed from the packed
file (each line's body becomes a request's ``params``, its id a custom_id Anthropic takes).
Results come from the batch's results URL once it has ended, in any order, and leave here as
lines in OpenAI's output format: a succeeded Message becomes ``response.body`` with status 200,
an errored request a response with the status its error type stands for (a 4xx is dead, a 429
or 5xx retried), a canceled or expired one an error line ``batch_cancelled`` or
``batch_expired`` (retried). A batch carries no metadata, so a create whose outcome is unknown
is reconciled by what a batch of ours must look like: created after the intent, holding
exactly its number of requests, and not another batch's of ours already; its results are then
checked to hold our custom_ids.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import orjson
from anthropic import Anthropic
from anthropic.types.messages import MessageBatch

from producers.errors import ConfigurationError, OpenAIError
from producers.providers import Provider
from producers.settings import Settings
from worker.providers.anthropic_ids import CustomIds, to_custom_id
from worker.providers.base import CreateOutcomeUnknown, RemoteBatch, RemoteFile, ResultSource
from worker.store import Batch

log = logging.getLogger("batchrelay.anthropic")
# Anthropic's error types, and the HTTP status each stands for in an OpenAI-shaped line.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
UNFINISHED = {"canceled": "batch_cancelled", "expired": "batch_expired"}
# How far before the intent a batch of ours may be stamped created: clock skew only, kept
# narrow because nothing but the request count tells our batch from a stranger's.
RECONCILE_MARGIN = 120.0


def translate(error: Exception, action: str) -> OpenAIError:
    """Map an SDK exception to our error tree, keeping only what is safe to log."""
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        retry_after = error.response.headers.get("retry-after")
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        retryable = status in (404, 408, 409, 429) or status >= 500
        return OpenAIError(
            f"{action}: HTTP {status}: {error.message}", retryable=retryable, retry_after=wait
        )
    if isinstance(error, anthropic.APIConnectionError):
        return OpenAIError(f"{action}: {type(error).__name__}", retryable=True)
    return OpenAIError(f"{action}: {type(error).__name__}: {error}", retryable=False)


def remote(batch: MessageBatch) -> RemoteBatch:
    """The batch in OpenAI's words: ``ended`` is completed (cancelled if a cancel was asked
    for); every request then has a result line of its own, so nothing is lost either way."""
    counts = batch.request_counts
    status = {"in_progress": "in_progress", "canceling": "cancelling"}.get(
        batch.processing_status,
        "cancelled" if batch.cancel_initiated_at else "completed",
    )
    done = counts.succeeded + counts.errored + counts.canceled + counts.expired
    return RemoteBatch(
        id=batch.id,
        status=status,
        total=done + counts.processing,
        completed=counts.succeeded,
        failed=counts.errored + counts.canceled + counts.expired,
        expires_at=int(batch.expires_at.timestamp()),
        created_at=batch.created_at.timestamp(),
    )


def request_of(line: bytes) -> bytes:
    """One request of the create call, from one line of our packed file."""
    parsed = orjson.loads(line)
    return orjson.dumps({"custom_id": to_custom_id(parsed["custom_id"]), "params": parsed["body"]})


def result_line(raw: bytes, ids: CustomIds) -> bytes:
    """One of Anthropic's result lines as a line of OpenAI's output format."""
    line = orjson.loads(raw)
    item_id = ids.item_id(str(line.get("custom_id")))
    result = line.get("result") or {}
    kind = result.get("type")
    out: dict[str, Any] = {"id": f"anthropic_{item_id}", "custom_id": item_id}
    if kind == "succeeded":
        out["response"] = {"status_code": 200, "body": result.get("message")}
        out["error"] = None
    elif kind == "errored":
        error = (result.get("error") or {}).get("error") or {}
        kind_of = str(error.get("type") or "api_error")
        body = {"error": {"type": kind_of, "code": kind_of, "message": error.get("message")}}
        out["response"] = {"status_code": ERROR_STATUS.get(kind_of, 500), "body": body}
        out["error"] = None
    else:
        code = UNFINISHED.get(str(kind), "missing_output")
        out["response"] = None
        out["error"] = {"code": code, "message": f"request {kind} at Anthropic"}
    return orjson.dumps(out)


class AnthropicBatches:
    """Message Batches calls with our error semantics."""

    kind = "anthropic"
    identifies_batches = False

    def __init__(
        self, settings: Settings, provider: Provider, client: Anthropic | None = None
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.name = provider.name
        self._client = client

    @property
    def client(self) -> Anthropic:
        if self._client is None:
            try:
                self._client = Anthropic(
                    api_key=os.environ.get(self.provider.key_env),
                    base_url=self.provider.base_url,  # None: ANTHROPIC_BASE_URL, else Anthropic's
                    timeout=self.settings.openai_timeout,
                    max_retries=self.settings.openai_max_retries,
                )
            except anthropic.AnthropicError as error:
                raise ConfigurationError(f"provider {self.name}: {error}") from None
        return self._client

    def upload(self, path: Path) -> None:
        """Nothing to upload: the requests go in the create call."""
        return None

    def create(self, batch: Batch, file_id: str | None, path: Path | None) -> RemoteBatch:
        """Create the batch from the packed file, the request body streamed line by line."""
        assert path is not None, "an Anthropic batch is created from the packed file"

        def body() -> Iterator[bytes]:
            yield b'{"requests":['
            with path.open("rb") as handle:
                for n, line in enumerate(raw for raw in handle if raw.strip()):
                    yield (b"," if n else b"") + request_of(line)
            yield b"]}"

        try:
            created = self.client.with_options(max_retries=0).post(
                "/v1/messages/batches",
                cast_to=MessageBatch,
                content=body(),
                options={"headers": {"content-type": "application/json"}},
            )
        except (anthropic.APIConnectionError, anthropic.InternalServerError) as error:
            raise CreateOutcomeUnknown(
                f"messages.batches.create: {type(error).__name__}", retryable=True
            ) from None
        except anthropic.APIStatusError as error:
            if error.status_code >= 500:  # 529 overloaded and the like: it may exist
                raise CreateOutcomeUnknown(
                    f"messages.batches.create: HTTP {error.status_code}", retryable=True
                ) from None
            raise translate(error, "messages.batches.create") from None
        except anthropic.AnthropicError as error:
            raise translate(error, "messages.batches.create") from None
        return remote(created)

    def find(self, batch: Batch, intent: float, taken: Callable[[str], bool]) -> list[RemoteBatch]:
        """Batches that may be ``batch``: created since just before the intent, holding
        exactly its number of requests, not ``taken`` by another batch of ours (oldest
        first)."""
        since = intent - RECONCILE_MARGIN
        wanted = int(batch.number("items"))
        found: list[RemoteBatch] = []
        try:
            for candidate in self.client.messages.batches.list(limit=100):
                summary = remote(candidate)
                if summary.created_at < since:
                    break
                if summary.total == wanted and not taken(candidate.id):
                    found.append(summary)
        except anthropic.AnthropicError as error:
            raise translate(error, "messages.batches.list") from None
        return sorted(found, key=lambda b: (b.created_at, b.id))

    def retrieve(self, provider_id: str) -> RemoteBatch:
        try:
            return remote(self.client.messages.batches.retrieve(provider_id))
        except anthropic.AnthropicError as error:
            raise translate(error, "messages.batches.retrieve") from None

    def cancel(self, provider_id: str) -> RemoteBatch:
        try:
            return remote(self.client.messages.batches.cancel(provider_id))
        except anthropic.AnthropicError as error:
            raise translate(error, "messages.batches.cancel") from None

    def result_sources(
        self, batch: Batch, item_ids: Callable[[], Iterable[str]]
    ) -> list[ResultSource]:
        """The ended batch's results, as OpenAI's output lines."""
        provider_id = batch.provider_id
        if not provider_id:
            return []
        return [
            (f"results of {provider_id}", lambda: self._results(provider_id, CustomIds(item_ids())))
        ]

    def _results(self, provider_id: str, ids: CustomIds) -> Iterator[bytes]:
        try:
            results = self.client.messages.batches.with_streaming_response.results(provider_id)
            with results as response:
                for raw in response.iter_lines():
                    if raw.strip():
                        yield result_line(raw.encode(), ids)
        except anthropic.AnthropicError as error:
            raise translate(error, "messages.batches.results") from None

    def delete_files(self, batch: Batch) -> int:
        """Delete the ended batch (its results with it); one already gone counts as done."""
        provider_id = batch.provider_id
        if not provider_id:
            return 0
        try:
            self.client.messages.batches.delete(provider_id)
        except anthropic.NotFoundError:
            return 0
        except anthropic.AnthropicError as error:
            raise translate(error, "messages.batches.delete") from None
        return 1

    def delete_file(self, file_id: str) -> None:
        """Anthropic batches leave no files."""

    def files(self) -> Iterator[RemoteFile]:
        """Anthropic batches leave no files."""
        return iter(())
