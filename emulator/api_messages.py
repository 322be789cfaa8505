"""`POST /v1/messages`: Anthropic's Messages API in real time, answering as a batch request
would (another emulator's `--forward-url` can point here)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from emulator.answers import LineRequestError
from emulator.anthropic_errors import AnthropicError, error_json
from emulator.httpjson import JsonResponse, read_json_object
from emulator.messages import MESSAGES_ENDPOINT
from emulator.responses import generate
from emulator.state import state_of

router = APIRouter()


@router.post(MESSAGES_ENDPOINT)
async def create_message(request: Request) -> JsonResponse:
    body = await read_json_object(request)
    if body.get("stream") is True:
        raise AnthropicError(400, "stream: the emulator does not stream; send stream: false.")
    models = state_of(request).settings.models
    model = body.get("model")
    if models is not None and isinstance(model, str) and model not in models:
        raise AnthropicError(404, f"model: {model}")
    try:
        answer = generate(MESSAGES_ENDPOINT, body)
    except LineRequestError as exc:
        return error_json(request.url.path, exc.status_code, exc.body)
    return JsonResponse(answer)
