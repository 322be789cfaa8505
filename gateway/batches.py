"""`/v1/batches`: OpenAI's Batches API over batchrelay. A batch's lines become work items of a
group of their own, packed into as many batches at the provider as the limits need; the
client sees one batch whose request_counts grow (gateway/janitor.py moves it along).

The routes are plain functions: FastAPI runs them in its thread pool, on the sync Backend."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from gateway.auth import Tenant
from gateway.backend import Backend
from gateway.batchstore import TERMINAL, GatewayBatch
from gateway.errors import GatewayError, JsonResponse, invalid_request, missing_parameter
from gateway.filestore import FileRecord
from gateway.janitor import progress
from gateway.limits import check_room
from gateway.state import BackendDep
from producers.models import Endpoint

router = APIRouter()
WINDOW = re.compile(r"^(\d{1,6})([smh])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
MAX_WINDOW_HOURS = 168
RESULT_MARGIN_SECONDS = 3600
MAX_METADATA_KEYS, MAX_KEY_CHARS, MAX_VALUE_CHARS = 16, 64, 512
CANCELLABLE = frozenset({"validating", "in_progress"})
TIMES = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")


def batch_object(backend: Backend, batch: GatewayBatch) -> dict[str, Any]:
    """OpenAI's batch object."""
    f = batch.fields
    if batch.status in TERMINAL or not batch.partitions:
        total = int(batch.number("total"))
        completed, failed = int(batch.number("completed")), int(batch.number("failed"))
    else:
        done = progress(backend, batch)
        total, completed, failed = done.total, done.completed, done.failed

    def stamp(name: str) -> int | None:
        return int(float(f[name])) if f.get(name) else None

    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": f["endpoint"],
        "errors": batch.json("errors"),
        "input_file_id": f["input_file_id"],
        "completion_window": f["completion_window"],
        "status": batch.status,
        "output_file_id": f.get("output_file_id") or None,
        "error_file_id": f.get("error_file_id") or None,
        "created_at": stamp("created_at"),
        "expires_at": stamp("expires_at"),
        **{f"{name}_at": stamp(f"{name}_at") for name in TIMES},
        "request_counts": {"total": total, "completed": completed, "failed": failed},
        "metadata": batch.json("metadata"),
    }


def checked_metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > MAX_METADATA_KEYS:
        raise invalid_request(
            f"metadata must be an object of at most {MAX_METADATA_KEYS} keys", "metadata"
        )
    for key, value in metadata.items():
        if len(key) > MAX_KEY_CHARS or not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
            raise invalid_request(
                f"metadata keys are at most {MAX_KEY_CHARS} characters and values strings of "
                f"at most {MAX_VALUE_CHARS}",
                f"metadata.{key}",
            )
    return dict(metadata)


def window_seconds(window: Any) -> float:
    """The gateway batch's own deadline: OpenAI's '24h', or any window from '1s' to '168h'
    (the batches at the provider keep the provider's window)."""
    match = WINDOW.match(window) if isinstance(window, str) else None
    seconds = int(match[1]) * UNIT_SECONDS[match[2]] if match else 0
    if not 1 <= seconds <= MAX_WINDOW_HOURS * 3600:
        raise invalid_request(
            f"completion_window must be from '1s' to '{MAX_WINDOW_HOURS}h' (OpenAI takes '24h')",
            "completion_window",
        )
    return float(seconds)


@router.post("/v1/batches")
def create_batch(
    request: Request, backend: BackendDep, tenant: Tenant, body: Annotated[Any, Body()] = None
) -> JsonResponse:
    if not isinstance(body, dict):
        raise invalid_request("The body must be a JSON object.")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not body.get(name):
            raise missing_parameter(name)
    endpoint = body["endpoint"]
    if not isinstance(endpoint, str) or endpoint not in {e.value for e in Endpoint}:
        raise invalid_request(f"The endpoint '{endpoint}' is not supported.", "endpoint")
    seconds = window_seconds(body["completion_window"])
    # Items and results expire a result TTL after they finish: all must outlive the batch.
    if seconds > backend.settings.result_ttl - RESULT_MARGIN_SECONDS:
        raise invalid_request(
            "completion_window must end an hour before results expire "
            f"(BATCHRELAY_RESULT_TTL, {backend.settings.result_ttl} s).",
            "completion_window",
        )
    metadata = checked_metadata(body.get("metadata"))
    file_id = str(body["input_file_id"])
    raw = backend.redis.hgetall(backend.keys.gateway_file(file_id))
    record = FileRecord.from_hash(file_id, raw) if raw else None
    if record is None or record.tenant != tenant:
        raise invalid_request(f"No such File object: {file_id}", "input_file_id", "file_not_found")
    if record.purpose != "batch":
        raise invalid_request(
            f"File {file_id} has purpose '{record.purpose}', not 'batch'.", "input_file_id"
        )
    check_room(backend, tenant)
    batch = backend.batches.create(
        tenant, file_id, endpoint, body["completion_window"], seconds, metadata
    )
    request.app.state.janitor.wake()
    return JsonResponse(batch_object(backend, batch))


@router.get("/v1/batches/{batch_id}")
def retrieve_batch(batch_id: str, backend: BackendDep, tenant: Tenant) -> JsonResponse:
    return JsonResponse(batch_object(backend, backend.batches.get(tenant, batch_id)))


@router.get("/v1/batches")
def list_batches(
    backend: BackendDep,
    tenant: Tenant,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JsonResponse:
    found, more = backend.batches.page(tenant, after, limit)
    data = [batch_object(backend, b) for b in found]
    return JsonResponse(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }
    )


@router.post("/v1/batches/{batch_id}/cancel")
def cancel_batch(
    request: Request, batch_id: str, backend: BackendDep, tenant: Tenant
) -> JsonResponse:
    batch = backend.batches.get(tenant, batch_id)
    if batch.status in ("cancelling", "cancelled"):
        return JsonResponse(batch_object(backend, batch))
    if not backend.batches.move(batch_id, CANCELLABLE, "cancelling"):
        raise GatewayError(
            409,
            f"Cannot cancel a batch with status '{batch.status}'.",
            "invalid_request_error",
            code="batch_not_cancellable",
        )
    backend.batches.schedule(batch_id, 0)
    request.app.state.janitor.wake()
    return JsonResponse(batch_object(backend, backend.batches.get(tenant, batch_id)))
