"""`/v1/messages/batches`: Anthropic's Message Batches: create, list, retrieve, cancel, delete
and results."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from emulator import ids
from emulator.anthropic_errors import AnthropicError
from emulator.api_files import file_chunks
from emulator.httpjson import JsonResponse, parse_json_object
from emulator.message_batches import (
    MessageBatchRecord,
    checked_requests,
    message_batch_json,
    write_lines,
)
from emulator.message_results import remove_results
from emulator.messages import MESSAGES_ENDPOINT
from emulator.metadata import batch_faults_for
from emulator.pagination import check_limit
from emulator.state import state_of

router = APIRouter(prefix="/v1/messages/batches")

MAX_LIST_LIMIT = 1000


def _too_large(max_bytes: int) -> AnthropicError:
    return AnthropicError(413, f"Request exceeds the maximum size of {max_bytes} bytes.")


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    """The body, refused with a 413 as soon as it is known to be over `max_bytes`."""
    if int(request.headers.get("content-length") or 0) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _store_requests(raw: bytes, max_requests: int, path: Path) -> int:
    """Checks the body and writes its requests as input lines; returns how many there are."""
    requests = checked_requests(parse_json_object(raw), max_requests)
    write_lines(path, requests)
    return len(requests)


@router.post("")
async def create_message_batch(request: Request) -> JsonResponse:
    state = state_of(request)
    settings = state.settings
    raw = await _read_capped(request, settings.max_message_batch_bytes)
    input_file_id, path = state.message_files.reserve()
    try:
        total = await asyncio.to_thread(
            _store_requests, raw, settings.max_message_batch_requests, path
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    # Whole microseconds, as the timestamps show them: expires_at - created_at is the window.
    now = round(time.time(), 6)
    batch = MessageBatchRecord(
        id=ids.new_id("msgbatch_", 24),
        endpoint=MESSAGES_ENDPOINT,
        input_file_id=input_file_id,
        completion_window="24h",
        metadata=None,
        faults=batch_faults_for(None, state.faults),
        created_at=int(now),
        deadline=now + settings.window_seconds,
        total=total,
        created=now,
    )
    state.message_batches.add(batch)
    state.message_runner.start(batch, state.child_rng())
    return JsonResponse(message_batch_json(batch, str(request.base_url)))


@router.get("")
async def list_message_batches(
    request: Request,
    before_id: str | None = None,
    after_id: str | None = None,
    limit: int = 20,
) -> JsonResponse:
    page = state_of(request).message_batches.page(
        before=before_id,
        after=after_id,
        limit=check_limit(limit, MAX_LIST_LIMIT),
        base_url=str(request.base_url),
    )
    return JsonResponse(page)


@router.get("/{batch_id}")
async def retrieve_message_batch(request: Request, batch_id: str) -> JsonResponse:
    batch = state_of(request).message_batches.get(batch_id)
    return JsonResponse(message_batch_json(batch, str(request.base_url)))


@router.post("/{batch_id}/cancel")
async def cancel_message_batch(request: Request, batch_id: str) -> JsonResponse:
    """A batch that has ended already comes back as it is."""
    batch = state_of(request).message_batches.get(batch_id)
    if batch.processing_status == "in_progress":
        batch.cancel_initiated_at = time.time()
        if not batch.finished:
            batch.move_to("cancelling")
            batch.cancel_requested.set()
    return JsonResponse(message_batch_json(batch, str(request.base_url)))


@router.delete("/{batch_id}")
async def delete_message_batch(request: Request, batch_id: str) -> JsonResponse:
    state = state_of(request)
    batch = state.message_batches.get(batch_id)
    if batch.processing_status != "ended":
        raise AnthropicError(
            400,
            f"Message batch {batch_id} is {batch.processing_status}; a batch can be deleted only "
            "once it has ended (cancel it first).",
        )
    state.message_batches.delete(batch_id)
    remove_results(state.message_files, batch)
    return JsonResponse({"id": batch_id, "type": "message_batch_deleted"})


@router.get("/{batch_id}/results")
async def message_batch_results(request: Request, batch_id: str) -> StreamingResponse:
    state = state_of(request)
    batch = state.message_batches.get(batch_id)
    if batch.ended_at is None or batch.results_file_id is None:
        raise AnthropicError(
            404,
            f"Results of message batch {batch_id} are not available: it is "
            f"{batch.processing_status}; results exist once it has ended.",
        )
    # Opened before answering: a delete racing the download cannot cut it short.
    stream = state.message_files.body_path(batch.results_file_id).open("rb")
    return StreamingResponse(
        file_chunks(stream),
        media_type="application/x-jsonl",
        headers={"content-length": str(os.fstat(stream.fileno()).st_size)},
    )
