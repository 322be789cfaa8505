"""The adapter of Anthropic's Message Batches, through the official anthropic SDK.

There is no file to upload: the create call carries the requests, streamed from the packed
file (each line's body becomes a request's ``params``, its id a custom_id Anthropic takes).
Results come from the batch's results URL once it has ended, in any order, and leave here as
lines in OpenAI's output format: a succeeded Message becomes ``response.body`` with status 200,
an errored request a response with the status its error type stands for (a 4xx is dead, a 429
or 5xx retried), a canceled or expired one an error line ``batch_cancelled`` or
``batch_expired`` (retried). A batch carries no metadata, so a create whose outcome is unknown
is reconciled by what a batch of ours must look like: created since just before the intent,
holding exactly its number of requests, and not another batch's of ours already. A batch
found that way is checked when its results are read: if they are not our custom_ids, it was
a stranger's (ForeignBatch), and our items go back to the queue.
"""

from __future__ import annotations

import logging
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
from worker.providers.base import (
    CreateOutcomeUnknown,
    ForeignBatch,
    RemoteBatch,
    RemoteFile,
    ResultSource,
    api_key,
    retry_after,
    split_lines,
)
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
# How long a batch just created may be missing from the listing (anthropic-sdk-python#1432
# saw a 404 right after a create): no second create is made within it.
LISTING_LAG = 300.0
# Renew the batch's lease and lock this often while its requests stream into the create call.
KEEP_ALIVE_BYTES = 8 << 20


def translate(error: Exception, action: str) -> OpenAIError:
    """Map an SDK exception to our error tree, keeping only what is safe to log."""
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        retryable = status in (408, 409, 429) or status >= 500
        return OpenAIError(
            f"{action}: HTTP {status}: {error.message}",
            retryable=retryable,
            retry_after=retry_after(error.response.headers),
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
    """One of Anthropic's result lines as a line of OpenAI's output format; a line that is not
    one (no custom_id, not JSON) passes as it came, for the collector to count as bad."""
    try:
        line = orjson.loads(raw)
        custom_id = line["custom_id"]
        result = line.get("result") or {}
        kind = result.get("type")
    except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
        return raw
    if not isinstance(custom_id, str):
        return raw
    item_id = ids.item_id(custom_id)
    out: dict[str, Any] = {"id": f"anthropic_{item_id}", "custom_id": item_id}
    if kind == "succeeded":
        out["response"] = {"status_code": 200, "body": result.get("message")}
        out["error"] = None
    elif kind == "errored":
        envelope = result.get("error")
        error = envelope.get("error") if isinstance(envelope, dict) else None
        error = error if isinstance(error, dict) else {}
        kind_of = str(error.get("type") or "api_error")
        body = {"error": {"type": kind_of, "code": kind_of, "message": error.get("message")}}
        out["response"] = {"status_code": ERROR_STATUS.get(kind_of, 500), "body": body}
        out["error"] = None
    else:  # canceled, expired, or a type this adapter does not know: retried either way
        code = UNFINISHED.get(str(kind), "server_error")
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
        lag = provider.listing_lag
        self.listing_lag = LISTING_LAG if lag is None else lag
        self._client = client

    @property
    def client(self) -> Anthropic:
        if self._client is None:
            try:
                self._client = Anthropic(
                    api_key=api_key(self.provider),
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

    def create(
        self,
        batch: Batch,
        file_id: str | None,
        path: Path | None,
        keep_alive: Callable[[], object],
    ) -> RemoteBatch:
        """Create the batch from the packed file, the request body streamed line by line (the
        batch's lease renewed as it goes: 256 MB may take minutes)."""
        assert path is not None, "an Anthropic batch is created from the packed file"

        def body() -> Iterator[bytes]:
            yield b'{"requests":['
            sent = 0
            with path.open("rb") as handle:
                for n, line in enumerate(raw for raw in handle if raw.strip()):
                    request = (b"," if n else b"") + request_of(line)
                    sent += len(request)
                    if sent >= KEEP_ALIVE_BYTES:
                        keep_alive()
                        sent = 0
                    yield request
            yield b"]}"

        try:
            created = self.client.with_options(max_retries=0).post(
                "/v1/messages/batches",
                cast_to=MessageBatch,
                content=body(),
                options={"headers": {"content-type": "application/json"}},
            )
        except (anthropic.APIConnectionError, anthropic.InternalServerError) as error:
            # Every 5xx, 529 overloaded included: the batch may exist.
            raise CreateOutcomeUnknown(
                f"messages.batches.create: {type(error).__name__}", retryable=True
            ) from None
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
        """The ended batch's results, as OpenAI's output lines. A batch found by its looks
        (after a create whose outcome was unknown) must show one of our custom_ids first."""
        provider_id = batch.provider_id
        if not provider_id:
            return []
        check = bool(batch.get("found_by_search"))

        def lines() -> Iterator[bytes]:
            return self._results(provider_id, CustomIds(item_ids()), check)

        return [(f"results of {provider_id}", lines)]

    def _results(self, provider_id: str, ids: CustomIds, check: bool) -> Iterator[bytes]:
        action = "messages.batches.results"
        try:
            results = self.client.messages.batches.with_streaming_response.results(provider_id)
            with results as response:
                for raw in split_lines(response.iter_bytes(), action):
                    if check:
                        check = False
                        custom_id = orjson.loads(raw).get("custom_id")
                        if not (isinstance(custom_id, str) and ids.owns(custom_id)):
                            raise ForeignBatch(f"{provider_id} holds requests of another's")
                    yield result_line(raw, ids)
        except anthropic.AnthropicError as error:
            raise translate(error, action) from None

    def delete_files(self, batch: Batch) -> int:
        """Delete the ended batch (its results with it); one already gone counts as done, and
        a stranger's batch (ForeignBatch) is left alone."""
        provider_id = batch.provider_id
        if not provider_id or batch.get("foreign"):
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
