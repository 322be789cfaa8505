"""`/v1/files`: upload, list, retrieve, download (streamed) and delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from emulator.errors import InvalidRequestError
from emulator.httpjson import JsonResponse
from emulator.pagination import check_limit
from emulator.state import state_of
from emulator.upload import receive_upload

router = APIRouter(prefix="/v1/files")

CONTENT_CHUNK_BYTES = 256 * 1024
MAX_LIST_LIMIT = 10_000


@router.post("")
async def create_file(request: Request) -> JsonResponse:
    state = state_of(request)
    record = await receive_upload(request, state.files, state.settings)
    return JsonResponse(record.to_json())


@router.get("")
async def list_files(
    request: Request,
    purpose: str | None = None,
    limit: int = MAX_LIST_LIMIT,
    order: str = "desc",
    after: str | None = None,
) -> JsonResponse:
    if order not in ("asc", "desc"):
        raise InvalidRequestError(
            f"Invalid value for 'order': '{order}'. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    page = state_of(request).files.page(
        purpose=purpose, order=order, after=after, limit=check_limit(limit, MAX_LIST_LIMIT)
    )
    return JsonResponse(page)


@router.get("/{file_id}")
async def retrieve_file(request: Request, file_id: str) -> JsonResponse:
    return JsonResponse(state_of(request).files.get(file_id).to_json())


def file_chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The stream's bytes in chunks; it is closed once read or dropped."""
    with stream:
        while chunk := stream.read(CONTENT_CHUNK_BYTES):
            yield chunk


@router.get("/{file_id}/content")
async def file_content(request: Request, file_id: str) -> StreamingResponse:
    files = state_of(request).files
    record = files.get(file_id)
    # Opened before answering: a delete racing the download cannot cut it short.
    stream = files.body_path(file_id).open("rb")
    return StreamingResponse(
        file_chunks(stream),
        media_type="application/octet-stream",
        headers={
            "content-length": str(record.bytes),
            "content-disposition": f'attachment; filename="{record.filename}"',
        },
    )


@router.delete("/{file_id}")
async def delete_file(request: Request, file_id: str) -> JsonResponse:
    record = state_of(request).files.delete(file_id)
    return JsonResponse({"id": record.id, "object": "file", "deleted": True})
