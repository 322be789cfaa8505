"""Real-time endpoints answering like a batch line would, plus `/v1/models`.

They make the emulator a stand-in for a real-time OpenAI-compatible server too (another
emulator's `--forward-url` can point here).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from emulator.answers import LineRequestError
from emulator.httpjson import JsonResponse, read_json_object
from emulator.responses import SUPPORTED_ENDPOINTS, generate
from emulator.state import state_of

router = APIRouter()

DEFAULT_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "omni-moderation-latest",
)


async def _answer(request: Request) -> JsonResponse:
    body = await read_json_object(request)
    try:
        answer = generate(request.url.path, body)
    except LineRequestError as exc:
        return JsonResponse(exc.body, status_code=exc.status_code)
    return JsonResponse(answer)


for _endpoint in SUPPORTED_ENDPOINTS:
    router.add_api_route(_endpoint, _answer, methods=["POST"], name=f"realtime {_endpoint}")


@router.get("/v1/models")
async def list_models(request: Request) -> JsonResponse:
    models = state_of(request).settings.models or DEFAULT_MODELS
    created = int(time.time())
    data = [
        {"id": m, "object": "model", "created": created, "owned_by": "emulator"} for m in models
    ]
    return JsonResponse({"object": "list", "data": data})
