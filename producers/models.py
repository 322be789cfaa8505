"""Work items as producers describe them, validated once and serialized once."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from producers.errors import InvalidItem, Rejection

MAX_ID_LENGTH = 64
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MetadataKey = Annotated[str, StringConstraints(max_length=MAX_METADATA_KEY_CHARS)]
MetadataValue = Annotated[str, StringConstraints(max_length=MAX_METADATA_VALUE_CHARS)]


class Endpoint(StrEnum):
    """The endpoints the Batch API accepts."""

    CHAT_COMPLETIONS = "/v1/chat/completions"
    EMBEDDINGS = "/v1/embeddings"
    RESPONSES = "/v1/responses"
    COMPLETIONS = "/v1/completions"
    MODERATIONS = "/v1/moderations"


class Callback(BaseModel):
    """Where an item's result goes besides Redis: a Celery task, a webhook, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str | None = Field(None, min_length=1, max_length=200)
    queue: str = Field("celery", min_length=1, max_length=200)
    url: str | None = Field(None, max_length=2048)
    headers: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def celery(cls, task: str, queue: str = "celery") -> Callback:
        """Deliver by ``send_task(task, args=[result], queue=queue)`` on the shared broker."""
        return cls(task=task, queue=queue)

    @classmethod
    def webhook(cls, url: str, headers: dict[str, str] | None = None) -> Callback:
        """Deliver by a signed HTTP POST of the result JSON to ``url``."""
        return cls(url=url, headers=headers or {})

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/?#]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.match(r"^[A-Za-z0-9-]{1,100}$", name) or any(c in text for c in "\r\n"):
                raise ValueError(f"invalid header {name!r}")
        return value


def new_item_id() -> str:
    return f"item-{uuid.uuid4().hex}"


class WorkItem(BaseModel):
    """One request for the Batch API; its id is the idempotency key and the line's custom_id."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_item_id, min_length=1, max_length=MAX_ID_LENGTH)
    endpoint: Endpoint = Endpoint.CHAT_COMPLETIONS
    body: dict[str, Any]
    callback: Callback | None = None
    # Limits checked by pydantic's core (no Python call per item): 16 keys, 64 / 512 chars.
    metadata: dict[MetadataKey, MetadataValue] = Field(
        default_factory=dict, max_length=MAX_METADATA_KEYS
    )

    @field_validator("id")
    @classmethod
    def _printable_id(cls, value: str) -> str:
        if not (value.isascii() and value.isprintable()) or " " in value:
            raise ValueError("must be printable ASCII without spaces or control characters")
        return value

    @model_validator(mode="after")
    def _body_names_model(self) -> WorkItem:
        model = self.body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise ValueError("body.model: the body must name a model (a non-empty string)")
        if self.body.get("stream") not in (None, False):
            raise ValueError("body.stream: streaming is not available in the Batch API")
        if self.endpoint is Endpoint.EMBEDDINGS and "input" not in self.body:
            raise ValueError("body.input: an embeddings request needs an input")
        return self

    @property
    def model(self) -> str:
        return str(self.body["model"])

    def embedding_inputs(self) -> int:
        """How many inputs this item adds to a batch's 50,000 embedding-input limit."""
        if self.endpoint is not Endpoint.EMBEDDINGS:
            return 0
        value = self.body.get("input")
        if isinstance(value, list) and value and not isinstance(value[0], int):
            return len(value)
        return 1


@dataclass(frozen=True, slots=True)
class PreparedItem:
    """A validated item with its request line serialized once, ready to store."""

    item: WorkItem
    line: bytes
    extra: bytes
    """'' or JSON with the fields the item hash needs besides its line (see submit.lua)."""


def _field_of(error: Any) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ())) or "item"
    message = str(error.get("msg", ""))
    if loc == "item" and ": " in message:
        head = message.split(": ", 1)[0].removeprefix("Value error, ")
        if head.startswith("body."):
            return head
    return loc


def rejection_from(error: ValidationError, index: int | None, raw: Any) -> Rejection:
    """Turn pydantic's error into a Rejection naming the item and the field."""
    first = error.errors()[0]
    item_id = raw.get("id") if isinstance(raw, dict) else getattr(raw, "id", None)
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    field = _field_of(first)
    if message.startswith(field + ": "):
        message = message[len(field) + 2 :]
    return Rejection(index, item_id if isinstance(item_id, str) else None, field, message)


def _non_finite(value: Any) -> bool:
    """True if a NaN or infinity hides in ``value`` (JSON cannot carry them; orjson would
    silently write null)."""
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_non_finite(v) for v in value)
    return False


def _extra(item: WorkItem) -> bytes:
    fields: dict[str, Any] = {}
    if item.callback is not None:
        fields["cb"] = item.callback.model_dump_json(exclude_defaults=True)
    if item.metadata:
        fields["md"] = orjson.dumps(item.metadata).decode()
    inputs = item.embedding_inputs()
    if inputs:
        fields["nin"] = inputs
    return orjson.dumps(fields) if fields else b""


def prepare(raw: WorkItem | dict[str, Any], index: int | None, max_line_bytes: int) -> PreparedItem:
    """Validate ``raw`` and serialize its request line, or raise InvalidItem naming the field."""
    try:
        # A WorkItem is validated again: its fields may have been reassigned since it was built.
        item = WorkItem.model_validate(raw.model_dump() if isinstance(raw, WorkItem) else raw)
    except ValidationError as error:
        raise InvalidItem([rejection_from(error, index, raw)]) from None
    # Name the item by the id its producer gave; a generated id would mean nothing to them.
    given = (
        item.id if isinstance(raw, WorkItem) or (isinstance(raw, dict) and "id" in raw) else None
    )
    try:
        line = orjson.dumps(
            {"custom_id": item.id, "method": "POST", "url": item.endpoint.value, "body": item.body}
        )
    except (TypeError, orjson.JSONEncodeError) as error:
        raise InvalidItem(
            [Rejection(index, given, "body", f"not JSON-serializable: {error}")]
        ) from None
    # orjson writes NaN and infinity as null: only a line with a null can hide one.
    if b"null" in line and _non_finite(item.body):
        raise InvalidItem([Rejection(index, given, "body", "NaN or infinity is not valid JSON")])
    if len(line) > max_line_bytes:
        raise InvalidItem(
            [
                Rejection(
                    index,
                    given,
                    "body",
                    f"request line is {len(line)} bytes, over the "
                    f"per-item limit of {max_line_bytes} bytes",
                )
            ]
        )
    return PreparedItem(item=item, line=line, extra=_extra(item))
