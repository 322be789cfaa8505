"""`/_emulator/*`: the control API (no auth): health, faults, reset, info."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from emulator.config import Faults
from emulator.errors import InvalidRequestError
from emulator.httpjson import JsonResponse, read_json_object
from emulator.state import state_of

router = APIRouter(prefix="/_emulator")


@router.get("/health")
async def health() -> JsonResponse:
    return JsonResponse({"status": "ok"})


@router.get("/faults")
async def get_faults(request: Request) -> JsonResponse:
    return JsonResponse(state_of(request).faults.model_dump())


@router.post("/faults")
async def set_faults(request: Request) -> JsonResponse:
    """Merges the given fields into the live faults; `{}` changes nothing."""
    state = state_of(request)
    changes = await read_json_object(request)
    try:
        state.faults = Faults.model_validate({**state.faults.model_dump(), **changes})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise InvalidRequestError(
            f"Invalid fault '{name}': {first['msg']}.", param=name, code="invalid_value"
        ) from None
    return JsonResponse(state.faults.model_dump())


@router.post("/reset")
async def reset(request: Request, data: bool = False) -> JsonResponse:
    """Clears the faults; with `data` (query or JSON body) also every file and batch."""
    body = await read_json_object(request)
    state = state_of(request)
    clear_data = data or bool(body.get("data"))
    await state.reset(data=clear_data)
    return JsonResponse({"faults": state.faults.model_dump(), "data_cleared": clear_data})


@router.get("/info")
async def info(request: Request) -> JsonResponse:
    state = state_of(request)
    statuses = Counter(batch.status for batch in state.batches.all())
    message_statuses = Counter(batch.processing_status for batch in state.message_batches.all())
    settings: dict[str, Any] = state.settings.model_dump(
        mode="json", exclude={"api_key", "webhook_secret"}
    )
    return JsonResponse(
        {
            "pid": os.getpid(),
            "data_dir": str(state.data_dir),
            "settings": settings,
            "batches_by_status": statuses,
            "message_batches_by_status": message_statuses,
            "files": len(state.files),
        }
    )
