"""Work items as producers describe them, validated once and serialized once.

``WorkItem`` and ``Callback`` are the public models. Submitting validates plain dicts through
a TypedDict twin of ``WorkItem`` (same constraint types, checked in pydantic's core) and the
same semantic checks: a model instance per item would cost more than the rest of a submit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, NotRequired

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
    with_config,
)
from typing_extensions import TypedDict

from producers.errors import InvalidItem, Rejection
from producers.keys import DEFAULT_PROVIDER, partition_tag

MAX_ID_LENGTH = 64
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
HTTP_URL = re.compile(r"^https?://[^\s/?#]+")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")

# Constraints checked by pydantic's core, shared by the models and their TypedDict twins.
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
TaskName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
CallbackUrl = Annotated[str, StringConstraints(max_length=2048)]
MetadataKey = Annotated[str, StringConstraints(max_length=MAX_METADATA_KEY_CHARS)]
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
# A tenant or group names a partition of its own; kept short and plain for keys and labels.
PartName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
MetadataValue = Annotated[str, StringConstraints(max_length=MAX_METADATA_VALUE_CHARS)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_KEYS)]


class Endpoint(StrEnum):
    """The endpoints the Batch API accepts."""

    CHAT_COMPLETIONS = "/v1/chat/completions"
    EMBEDDINGS = "/v1/embeddings"
    RESPONSES = "/v1/responses"
    COMPLETIONS = "/v1/completions"
    MODERATIONS = "/v1/moderations"
    MESSAGES = "/v1/messages"  # Anthropic's Message Batches


# -- the semantic checks, each returning a problem or None ------------------------------------


def id_problem(value: str) -> str | None:
    if value.isascii() and value.isprintable() and " " not in value:
        return None
    return "must be printable ASCII without spaces or control characters"


def url_problem(value: str | None) -> str | None:
    if value is None or HTTP_URL.match(value):
        return None
    return "must be an http:// or https:// URL"


def headers_problem(headers: dict[str, str]) -> str | None:
    for name, value in headers.items():
        if not HEADER_NAME.match(name) or "\r" in value or "\n" in value:
            return f"invalid header {name!r}"
    return None


def body_problem(endpoint: Endpoint, body: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) when the body cannot go to the Batch API as it is."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        return "body.model", "the body must name a model (a non-empty string)"
    if body.get("stream") not in (None, False):
        return "body.stream", "streaming is not available in the Batch API"
    if endpoint is Endpoint.EMBEDDINGS and "input" not in body:
        return "body.input", "an embeddings request needs an input"
    if endpoint is Endpoint.MESSAGES:
        tokens = body.get("max_tokens")
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
            return "body.max_tokens", "a Messages request needs max_tokens, a positive integer"
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return "body.messages", "a Messages request needs messages"
    return None


def embedding_inputs(endpoint: str, body: dict[str, Any]) -> int:
    """How many inputs an item adds to a batch's 50,000 embedding-input limit."""
    if endpoint != Endpoint.EMBEDDINGS:
        return 0
    value = body.get("input")
    if isinstance(value, list) and value and not isinstance(value[0], int):
        return len(value)
    return 1


def _raise_if(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(problem)


# -- the public models --------------------------------------------------------------------------


class Callback(BaseModel):
    """Where an item's result goes besides Redis: a Celery task, a webhook, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: TaskName | None = None
    queue: TaskName = "celery"
    url: CallbackUrl | None = None
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
        _raise_if(url_problem(value))
        return value

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str]) -> dict[str, str]:
        _raise_if(headers_problem(value))
        return value


def new_item_id() -> str:
    return f"item-{uuid.uuid4().hex}"


class WorkItem(BaseModel):
    """One request for the Batch API; its id is the idempotency key and the line's custom_id."""

    model_config = ConfigDict(extra="forbid")

    id: ItemId = Field(default_factory=new_item_id)
    endpoint: Endpoint = Endpoint.CHAT_COMPLETIONS
    body: dict[str, Any]
    callback: Callback | None = None
    metadata: Metadata = Field(default_factory=dict)
    provider: ProviderName | None = None
    """The provider to send it to, in place of the routes' choice (producers/providers.py)."""
    tenant: PartName | None = None
    """Whose item it is: a tenant's items are queued, batched, counted and priced apart."""
    group: PartName | None = None
    """A set of items tracked together (a gateway batch): queued and counted apart."""

    @field_validator("id")
    @classmethod
    def _printable_id(cls, value: str) -> str:
        _raise_if(id_problem(value))
        return value

    @model_validator(mode="after")
    def _body_fits_the_batch_api(self) -> WorkItem:
        problem = body_problem(self.endpoint, self.body)
        if problem is not None:
            raise ValueError(": ".join(problem))
        return self

    @property
    def model(self) -> str:
        return str(self.body["model"])


# -- the TypedDict twins submitting validates with ----------------------------------------------


@with_config(ConfigDict(extra="forbid"))
class CallbackFields(TypedDict, total=False):
    task: TaskName | None
    queue: TaskName
    url: CallbackUrl | None
    headers: dict[str, str]


@with_config(ConfigDict(extra="forbid"))
class ItemFields(TypedDict):
    id: NotRequired[ItemId]
    endpoint: NotRequired[Endpoint]
    body: dict[str, Any]
    callback: NotRequired[CallbackFields | None]
    metadata: NotRequired[Metadata]
    provider: NotRequired[ProviderName | None]
    tenant: NotRequired[PartName | None]
    group: NotRequired[PartName | None]


ITEM_FIELDS: TypeAdapter[ItemFields] = TypeAdapter(ItemFields)
_validate_item_fields = ITEM_FIELDS.validator.validate_python  # the core, without a wrapper


# -- preparing items for storage ----------------------------------------------------------------


FIELD_SEPARATOR = b"\x1f"
"""Separates the fields of a record; orjson escapes control characters, and ids have none."""


@dataclass(frozen=True, slots=True)
class PreparedItem:
    """A validated item with its request line serialized once, ready to store."""

    id: str
    endpoint: str
    model: str
    provider: str
    record: bytes
    """id, callback JSON, metadata JSON, embedding inputs and request line, joined by
    FIELD_SEPARATOR (b'' for no callback or metadata): the submit script's input."""
    tenant: str = ""
    group: str = ""

    @property
    def partition(self) -> str:
        """The tag of the partition the item goes to."""
        return partition_tag(self.endpoint, self.model, self.provider, self.tenant, self.group)

    def registry_entry(self) -> bytes:
        """The partition's entry in the registry (br:partitions)."""
        entry = {"endpoint": self.endpoint, "model": self.model, "provider": self.provider}
        if self.tenant:
            entry["tenant"] = self.tenant
        if self.group:
            entry["group"] = self.group
        return orjson.dumps(entry)


def field_of(error: Any) -> str:
    """The dotted field one pydantic error is about; a model-level error names it in its text."""
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
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    field = field_of(first)
    if message.startswith(field + ": "):
        message = message[len(field) + 2 :]
    return Rejection(index, _given_id(raw), field, message)


def _given_id(raw: Any) -> str | None:
    item_id = raw.get("id") if isinstance(raw, dict) else getattr(raw, "id", None)
    return item_id if isinstance(item_id, str) else None


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


def _problem(fields: ItemFields, endpoint: Endpoint) -> tuple[str, str] | None:
    """The first semantic problem of core-validated fields, as (field, message)."""
    item_id = fields.get("id")
    if item_id is not None and (message := id_problem(item_id)) is not None:
        return "id", message
    callback = fields.get("callback")
    if callback:
        if (message := url_problem(callback.get("url"))) is not None:
            return "callback.url", message
        headers = callback.get("headers")
        if headers and (message := headers_problem(headers)) is not None:
            return "callback.headers", message
    return body_problem(endpoint, fields["body"])


Router = Callable[[str, str, str, "str | None"], str]
"""(endpoint, model, item id, the provider the item names) -> the item's provider; raises
LookupError saying why none takes it (producers/providers.py's Providers.route)."""


def _default_route(_endpoint: str, _model: str, _item_id: str, named: str | None) -> str:
    return named or DEFAULT_PROVIDER


def prepare(
    raw: WorkItem | dict[str, Any],
    index: int | None,
    max_line_bytes: int,
    route: Router = _default_route,
) -> PreparedItem:
    """Validate ``raw``, choose its provider and serialize its request line, or raise
    InvalidItem naming the field."""
    source: Any = raw
    if isinstance(raw, WorkItem):
        # Validated again: its fields may have been reassigned since it was built.
        source = raw.model_dump(exclude_defaults=True)
        source["id"] = raw.id
    elif isinstance(raw, dict) and isinstance(raw.get("callback"), Callback):
        source = {**raw, "callback": raw["callback"].model_dump(exclude_defaults=True)}
    try:
        fields: ItemFields = _validate_item_fields(source)
    except ValidationError as error:
        raise InvalidItem([rejection_from(error, index, raw)]) from None
    endpoint = fields.get("endpoint", Endpoint.CHAT_COMPLETIONS)
    problem = _problem(fields, endpoint)
    # Name the item by the id its producer gave; a generated id would mean nothing to them.
    given = fields.get("id")
    if problem is not None:
        raise InvalidItem([Rejection(index, given, *problem)])
    item_id = given or new_item_id()
    body = fields["body"]
    named = fields.get("provider")
    try:
        provider = route(endpoint, body["model"], item_id, named)
    except LookupError as error:
        field = "provider" if named else "body.model"
        raise InvalidItem([Rejection(index, given, field, str(error))]) from None
    try:
        line = orjson.dumps({"custom_id": item_id, "method": "POST", "url": endpoint, "body": body})
    except (TypeError, orjson.JSONEncodeError) as error:
        raise InvalidItem(
            [Rejection(index, given, "body", f"not JSON-serializable: {error}")]
        ) from None
    # orjson writes NaN and infinity as null: only a line with a null can hide one.
    if b"null" in line and _non_finite(body):
        raise InvalidItem([Rejection(index, given, "body", "NaN or infinity is not valid JSON")])
    if len(line) > max_line_bytes:
        message = (
            f"request line is {len(line)} bytes, over the per-item limit of {max_line_bytes} bytes"
        )
        raise InvalidItem([Rejection(index, given, "body", message)])
    return assemble(
        item_id,
        endpoint,
        body,
        provider,
        line,
        fields.get("tenant") or "",
        fields.get("group") or "",
        fields.get("callback"),
        fields.get("metadata"),
    )


def assemble(
    item_id: str,
    endpoint: str,
    body: dict[str, Any],
    provider: str,
    line: bytes,
    tenant: str = "",
    group: str = "",
    callback: Any = None,
    metadata: dict[str, Any] | None = None,
) -> PreparedItem:
    """The PreparedItem of an item validated already (by prepare, or by the gateway's check of
    the same bytes): ``line`` is its request line."""
    record = FIELD_SEPARATOR.join(
        (
            item_id.encode(),
            b"" if callback is None else orjson.dumps(callback),
            orjson.dumps(metadata) if metadata else b"",
            b"%d" % embedding_inputs(endpoint, body),
            line,
        )
    )
    # Endpoint is a StrEnum: the member is its value, for orjson and as a partition key alike.
    return PreparedItem(item_id, endpoint, body["model"], provider, record, tenant, group)
