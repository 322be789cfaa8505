"""`/v1/batches`: create, list, retrieve and cancel."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from emulator import ids
from emulator.batches import BatchRecord
from emulator.errors import ConflictError, InvalidRequestError, MissingParameterError
from emulator.httpjson import JsonResponse, read_json_object
from emulator.metadata import batch_faults_for, check_metadata
from emulator.pagination import check_limit
from emulator.responses import SUPPORTED_ENDPOINTS
from emulator.state import EmulatorState, state_of

router = APIRouter(prefix="/v1/batches")

COMPLETION_WINDOWS = ("24h",)
MAX_LIST_LIMIT = 100
# Endpoints OpenAI batches accept; a forwarding emulator passes all of them upstream.
OPENAI_BATCH_ENDPOINTS = (
    *SUPPORTED_ENDPOINTS,
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
OUTPUT_EXPIRY_SECONDS = (3600, 2_592_000)


def _string_param(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise MissingParameterError(name)
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"Invalid type for '{name}': expected a string.", param=name, code="invalid_type"
        )
    return value


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidRequestError(
            f"Invalid value for '{name}': '{value}'. Supported values are: "
            + ", ".join(f"'{a}'" for a in allowed)
            + ".",
            param=name,
            code="invalid_value",
        )
    return value


def _check_output_expiry(value: Any) -> None:
    if value is None:
        return
    low, high = OUTPUT_EXPIRY_SECONDS
    if (
        not isinstance(value, dict)
        or value.get("anchor") != "created_at"
        or not isinstance(value.get("seconds"), int)
        or not low <= value["seconds"] <= high
    ):
        raise InvalidRequestError(
            "Invalid 'output_expires_after': expected {'anchor': 'created_at', 'seconds': N} "
            f"with N from {low} to {high}.",
            param="output_expires_after",
            code="invalid_value",
        )


def _check_input_file(state: EmulatorState, file_id: str) -> None:
    record = state.files.find(file_id)
    if record is None:
        raise InvalidRequestError(
            f"Invalid 'input_file_id': file '{file_id}' does not exist.",
            param="input_file_id",
            code="invalid_value",
        )
    if record.purpose != "batch":
        raise InvalidRequestError(
            f"The input file {file_id} has purpose '{record.purpose}'; batches need a file "
            "uploaded with purpose 'batch'.",
            param="input_file_id",
            code="invalid_value",
        )


@router.post("")
async def create_batch(request: Request) -> JsonResponse:
    state = state_of(request)
    body = await read_json_object(request)
    input_file_id = _string_param(body, "input_file_id")
    endpoint = _string_param(body, "endpoint")
    window = _string_param(body, "completion_window")
    allowed = OPENAI_BATCH_ENDPOINTS if state.forwarder is not None else SUPPORTED_ENDPOINTS
    _one_of("endpoint", endpoint, allowed)
    _one_of("completion_window", window, COMPLETION_WINDOWS)
    metadata = check_metadata(body.get("metadata"))
    _check_output_expiry(body.get("output_expires_after"))
    _check_input_file(state, input_file_id)
    now = time.time()
    batch = BatchRecord(
        id=ids.batch_id(),
        endpoint=endpoint,
        input_file_id=input_file_id,
        completion_window=window,
        metadata=metadata,
        faults=batch_faults_for(metadata, state.faults),
        created_at=int(now),
        deadline=now + state.settings.window_seconds,
    )
    state.batches.add(batch)
    state.runner.start(batch, state.child_rng())
    return JsonResponse(batch.to_json())


@router.get("")
async def list_batches(request: Request, after: str | None = None, limit: int = 20) -> JsonResponse:
    page = state_of(request).batches.page(after=after, limit=check_limit(limit, MAX_LIST_LIMIT))
    return JsonResponse(page)


@router.get("/{batch_id}")
async def retrieve_batch(request: Request, batch_id: str) -> JsonResponse:
    return JsonResponse(state_of(request).batches.get(batch_id).to_json())


@router.post("/{batch_id}/cancel")
async def cancel_batch(request: Request, batch_id: str) -> JsonResponse:
    batch = state_of(request).batches.get(batch_id)
    if batch.finished:
        raise ConflictError(
            f"Cannot cancel a batch with status '{batch.status}'.", code="batch_not_cancellable"
        )
    if batch.status != "cancelling":
        batch.move_to("cancelling")
        batch.cancel_requested.set()
    return JsonResponse(batch.to_json())
