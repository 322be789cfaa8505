"""`/v1/items`: single work items over HTTP, for services in any language. The same schema and
named errors as the SDK's WorkItem (callbacks included); the item belongs to the caller's
tenant, whose items alone it can see.

    POST /v1/items              one item (JSON), or many (NDJSON: application/x-ndjson)
    GET  /v1/items/{id}         its state, attempts and, once finished, its result
    GET  /v1/items/{id}?wait=S  the same, waiting up to S seconds (at most 60) for the result
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request

from gateway import limits
from gateway.auth import Tenant
from gateway.errors import GatewayError, JsonResponse, invalid_request
from producers.async_producer import AsyncProducer
from producers.errors import InvalidItem, QueueFull, Rejection
from producers.keys import PartitionKeys
from producers.plans import arun
from producers.reading import partitions_plan, status_plan, wait_once_plan

router = APIRouter()
MAX_WAIT = 60.0
NDJSON = "application/x-ndjson"


def producer_of(request: Request) -> AsyncProducer:
    producer: AsyncProducer = request.app.state.producer
    return producer


def own_item(raw: Any, tenant: str) -> dict[str, Any]:
    """An item of the tenant's: the tenant is the caller's, never the body's."""
    if not isinstance(raw, dict):
        raise InvalidItem([Rejection(None, None, "item", "an item is a JSON object")])
    for field in ("tenant", "group"):
        if field in raw:
            raise InvalidItem([Rejection(None, None, field, "set by the gateway, not the item")])
    return {**raw, "tenant": tenant}


def refused(error: InvalidItem) -> GatewayError:
    first = error.rejections[0]
    return invalid_request(str(error), first.field, "invalid_item")


async def check_room(request: Request, tenant: str) -> None:
    await asyncio.to_thread(limits.check_room, request.app.state.backend, tenant)


@router.post("/v1/items")
async def submit_items(
    request: Request,
    tenant: Tenant,
    content_type: Annotated[str, Header()] = "application/json",
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JsonResponse:
    producer = producer_of(request)
    await check_room(request, tenant)
    if content_type.split(";")[0].strip() == NDJSON:
        report = await producer.submit_many(ndjson_items(request, tenant))
        return JsonResponse(
            {
                "object": "list",
                "accepted": report.accepted,
                "duplicates": report.duplicates,
                "rejected": [asdict(r) for r in report.rejected],
                "queue_full": report.queue_full,
            }
        )
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise invalid_request("The body is not valid JSON.", None, "invalid_json") from None
    try:
        item = own_item(raw, tenant)
        if idempotency_key and "id" not in item:
            item["id"] = idempotency_key  # a retried POST finds the item it stored
        item_id = await producer.submit(item)
    except InvalidItem as error:
        raise refused(error) from None
    except QueueFull as error:
        raise GatewayError(429, str(error), "rate_limit_error", code="queue_full") from None
    return JsonResponse({"id": item_id, "object": "item"})


async def ndjson_items(request: Request, tenant: str) -> AsyncIterator[Any]:
    """The items of an NDJSON body, streamed; a line that is not an object is refused by
    submit_many's validation with its index."""
    rest = b""
    async for chunk in request.stream():
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for line in parts:
            if line.strip():
                yield parsed(line, tenant)
    if rest.strip():
        yield parsed(rest, tenant)


def parsed(line: bytes, tenant: str) -> Any:
    """A line's item, the tenant the caller's; anything else is refused by submit_many's
    validation, which names the line."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(raw, dict):
        return raw
    raw.pop("group", None)
    return {**raw, "tenant": tenant}


async def locate(request: Request, tenant: str, item_id: str) -> PartitionKeys:
    """The tenant's partition holding the item; 404 otherwise (another tenant's id too)."""
    redis = request.app.state.redis
    keys = request.app.state.keys
    registry = await arun(partitions_plan(keys), redis)
    tags = [tag for tag, info in registry.items() if info.get("tenant", "") == tenant]
    if tags:
        found = await asyncio.gather(*(redis.exists(keys.partition(t).item(item_id)) for t in tags))
        for tag, exists in zip(tags, found, strict=True):
            if exists:
                return keys.partition(tag)  # type: ignore[no-any-return]
    raise GatewayError(404, f"No such item: {item_id}", "invalid_request_error", "id")


@router.get("/v1/items/{item_id}")
async def get_item(
    request: Request,
    item_id: str,
    tenant: Tenant,
    wait: Annotated[float, Query(ge=0)] = 0.0,
) -> JsonResponse:
    redis = request.app.state.redis
    keys = await locate(request, tenant, item_id)
    deadline = asyncio.get_running_loop().time() + min(wait, MAX_WAIT)
    while True:
        block = deadline - asyncio.get_running_loop().time()
        raw = await arun(wait_once_plan(keys, item_id, max(0.0, min(block, 5.0))), redis)
        if raw is not None or block <= 0:
            break
    status = await arun(status_plan(keys, item_id), redis)
    body = {
        "id": item_id,
        "object": "item",
        "state": status.state,
        "attempt": status.attempt,
        "code": status.code,
        "message": status.message,
        "timestamps": status.timestamps,
        "result": None if raw is None else orjson.loads(raw),
    }
    return JsonResponse(body)
