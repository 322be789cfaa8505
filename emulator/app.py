"""The FastAPI app: routes, errors in the envelope of each API (OpenAI's or Anthropic's), and
the state's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from emulator import (
    api_batches,
    api_control,
    api_files,
    api_message_batches,
    api_messages,
    api_realtime,
)
from emulator.anthropic_errors import api_error_json, error_json
from emulator.config import EmulatorSettings
from emulator.errors import APIError, InvalidRequestError, ServerError
from emulator.gate import Gate
from emulator.state import EmulatorState

log = logging.getLogger(__name__)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return api_error_json(request.url.path, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body")]
    param = ".".join(location) or None
    message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}."
    error = InvalidRequestError(message, param=param, code="invalid_value")
    return api_error_json(request.url.path, error)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = (
        f"Invalid URL ({request.method} {request.url.path})"
        if exc.status_code in (404, 405)
        else str(exc.detail)
    )
    body = APIError(message).to_body()
    body["error"]["type"] = "invalid_request_error"
    return error_json(request.url.path, exc.status_code, body)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return api_error_json(request.url.path, ServerError(f"The emulator failed: {exc!r}"))


def create_app(config: EmulatorSettings | None = None) -> FastAPI:
    settings = config or EmulatorSettings()
    state = EmulatorState(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="batchrelay emulator",
        summary="OpenAI's Files + Batches and Anthropic's Message Batches, for tests.",
        lifespan=lifespan,
    )
    app.state.emulator = state
    app.include_router(api_files.router)
    app.include_router(api_batches.router)
    app.include_router(api_realtime.router)
    app.include_router(api_messages.router)
    app.include_router(api_message_batches.router)
    app.include_router(api_control.router)
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(Gate, state=state)
    return app
