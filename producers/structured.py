"""Typed structured outputs: a work item whose answer must fit a pydantic model, and the
answer read back as that model.

    item = structured_item("review-42", Sentiment, model="gpt-4o-mini",
                           messages=[{"role": "user", "content": "Classify: great!"}])
    producer.submit(item)
    parsed = parse_result(producer.wait("review-42"), Sentiment)
    if parsed.value is not None: ...          # a Sentiment
    else: print(parsed.refusal or parsed.error)

The request carries the model's JSON schema in the form OpenAI's structured outputs require
(``strict``: every object closed and every property required). ``parse_result`` takes any
result (from ``wait``, ``result``, a Celery callback's argument or a webhook's JSON body) and
never raises for what the model answered: a refusal, an answer that does not fit, or an item
that failed are values of ``Parsed``, so a Celery callback does not die of them.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from producers.models import Callback, Endpoint, WorkItem

M = TypeVar("M", bound=BaseModel)
NAME = re.compile(r"[^A-Za-z0-9_-]")


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, strict as OpenAI's structured outputs require: every object
    has ``additionalProperties: false`` and lists all its properties as required (an optional
    field is one that may be null), no defaults, and a ``$ref`` with siblings inlined."""
    schema = model.model_json_schema()
    strict: dict[str, Any] = _strict(schema, schema)
    return strict


def _strict(node: Any, root: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(entry, root) for entry in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node and len(node) > 1:  # OpenAI takes a $ref only on its own
        target = _resolve(root, node.pop("$ref"))
        node = {**copy.deepcopy(target), **node}
    node.pop("default", None)
    if node.get("type") == "object" or "properties" in node:
        node.setdefault("properties", {})
        node["additionalProperties"] = False
        node["required"] = list(node["properties"])
    for key in ("properties", "$defs", "definitions"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _strict(sub, root) for name, sub in node[key].items()}
    for key in ("items", "anyOf", "allOf", "oneOf", "prefixItems"):
        if key in node:
            node[key] = _strict(node[key], root)
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}
    return node


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return dict(target)


def response_format(schema: type[BaseModel], name: str | None = None) -> dict[str, Any]:
    """The ``response_format`` of a chat completion asking for ``schema``."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": NAME.sub("_", name or schema.__name__)[:64],
            "schema": strict_json_schema(schema),
            "strict": True,
        },
    }


def structured_item(
    id: str | None,
    schema: type[BaseModel],
    *,
    model: str,
    messages: list[dict[str, Any]] | None = None,
    input: Any = None,
    endpoint: Endpoint | str = Endpoint.CHAT_COMPLETIONS,
    callback: Callback | None = None,
    metadata: dict[str, str] | None = None,
    **body: Any,
) -> WorkItem:
    """A work item whose answer must fit ``schema``: a chat completion (``messages``) or a
    Responses API request (``endpoint="/v1/responses"``, ``input``); ``body`` adds any other
    request fields."""
    request: dict[str, Any] = {"model": model, **body}
    chosen = response_format(schema)
    if Endpoint(endpoint) == Endpoint.RESPONSES:
        request["input"] = input if input is not None else messages
        request["text"] = {"format": {"type": "json_schema", **chosen["json_schema"]}}
    else:
        request["messages"] = messages
        request["response_format"] = chosen
    fields: dict[str, Any] = {"endpoint": endpoint, "body": request}
    if id is not None:
        fields["id"] = id
    if callback is not None:
        fields["callback"] = callback
    if metadata:
        fields["metadata"] = metadata
    return WorkItem(**fields)


@dataclass(frozen=True)
class Parsed(Generic[M]):
    """An answer read as a model: ``value``, or why there is none (``refusal``: the model
    declined; ``error``: the item failed, or the answer does not fit the model)."""

    value: M | None
    refusal: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


def answer_of(result: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the answer's text, the model's refusal) from a result, chat or Responses API."""
    body = ((result.get("response") or {}).get("body")) or {}
    choices = body.get("choices")
    if isinstance(choices, list) and choices:
        message = choices[0].get("message") or {}
        return message.get("content"), message.get("refusal")
    for output in body.get("output") or []:
        for part in output.get("content") or [] if isinstance(output, dict) else []:
            if part.get("type") == "refusal":
                return None, part.get("refusal")
            if part.get("type") == "output_text":
                return part.get("text"), None
    return None, None


def parse_result(result: dict[str, Any], schema: type[M]) -> Parsed[M]:
    """The result's answer as ``schema``; never raises for what the answer holds."""
    if result.get("status") != "succeeded":
        error = result.get("error") or {}
        detail = f"{error.get('code', 'failed')}: {error.get('message', '')}".strip(": ")
        return Parsed(None, error=f"the item failed ({detail})")
    text, refusal = answer_of(result)
    if refusal:
        return Parsed(None, refusal=refusal)
    if text is None:
        return Parsed(None, error="the response holds no answer")
    try:
        return Parsed(schema.model_validate_json(text))
    except ValidationError as error:
        return Parsed(None, error=f"the answer does not fit {schema.__name__}: {error}")
