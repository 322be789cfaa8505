"""`/v1/files`: OpenAI's Files API for purpose `batch`, per tenant."""

from __future__ import annotations

import logging
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import StreamingResponse

from gateway.auth import Tenant
from gateway.errors import JsonResponse
from gateway.filestore import MAX_LIST_LIMIT
from gateway.state import AppSettings, Files
from gateway.upload import receive_upload

log = logging.getLogger("batchrelay.gateway")

router = APIRouter(prefix="/v1/files", tags=["files"])


@router.post("")
async def create_file(
    request: Request, tenant: Tenant, files: Files, settings: AppSettings
) -> JsonResponse:
    record = await receive_upload(request, files, tenant, settings.gateway_max_file_bytes)
    return JsonResponse(record.to_json())


@router.get("")
async def list_files(
    tenant: Tenant,
    files: Files,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = MAX_LIST_LIMIT,
    order: Literal["asc", "desc"] = "desc",
    purpose: str | None = None,
) -> JsonResponse:
    page = await files.page(tenant, after=after, limit=limit, order=order, purpose=purpose)
    return JsonResponse(page.to_json())


@router.get("/{file_id}")
async def retrieve_file(file_id: str, tenant: Tenant, files: Files) -> JsonResponse:
    return JsonResponse((await files.get(tenant, file_id)).to_json())


@router.get("/{file_id}/content")
async def file_content(file_id: str, tenant: Tenant, files: Files) -> StreamingResponse:
    record = await files.get(tenant, file_id)
    headers = {
        "content-disposition": f"attachment; filename*=UTF-8''{quote(record.filename)}",
        "content-length": str(record.bytes),
    }
    body = files.chunks(file_id)
    return StreamingResponse(body, media_type="application/octet-stream", headers=headers)


@router.delete("/{file_id}")
async def delete_file(file_id: str, tenant: Tenant, files: Files) -> JsonResponse:
    await files.delete(tenant, file_id)
    return JsonResponse({"id": file_id, "object": "file", "deleted": True})
