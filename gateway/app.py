"""The FastAPI app: its routers, its errors in OpenAI's envelope, and what it keeps on
``app.state`` for the routes.

``app.state`` holds ``settings`` (Settings), ``tenants`` (auth.Tenants) and ``keys``
(producers.keys.Keys of the namespace) from create_app on, and while the app runs (the
lifespan): ``redis`` (one redis.asyncio client), ``files`` (FileStore), ``producer``
(AsyncProducer, for /v1/items), ``backend`` (gateway.backend.Backend, the sync side of
/v1/batches) and ``janitor`` (the thread that moves batches along). gateway.state gives
routes typed access to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from redis.exceptions import RedisError

from gateway import batches, files, items, webhooks
from gateway.backend import Backend
from gateway.config import load_tenants
from gateway.errors import GatewayError, JsonResponse, install_error_handlers
from gateway.filestore import FileStore
from gateway.janitor import Janitor
from gateway.metrics import RequestCounter
from gateway.state import RedisClient
from producers.async_producer import AsyncProducer
from producers.connection import connect_async
from producers.keys import Keys
from producers.settings import Settings

HEALTH_TIMEOUT_SECONDS = 3.0

ROUTERS: list[APIRouter] = [files.router, batches.router, items.router, webhooks.router]
"""Every router of the API, included by create_app in this order."""

health = APIRouter()


@health.get("/healthz", include_in_schema=False)
async def healthz(redis: RedisClient) -> JsonResponse:
    """200 while Redis answers; no key needed, for load balancers and probes."""
    try:
        await asyncio.wait_for(redis.ping(), HEALTH_TIMEOUT_SECONDS)
    except (RedisError, OSError, TimeoutError):
        raise GatewayError(503, "Redis does not answer.", "server_error") from None
    return JsonResponse({"ok": True})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    redis = connect_async(settings)
    app.state.redis = redis
    app.state.files = FileStore(redis, app.state.keys)
    app.state.producer = AsyncProducer(redis, settings)
    # The batch side is sync: its routes run in the thread pool, its janitor in a thread.
    backend = Backend(settings)
    app.state.backend = backend
    janitor = Janitor(backend)
    app.state.janitor = janitor
    janitor.start()
    try:
        yield
    finally:
        janitor.stop()
        await asyncio.to_thread(janitor.join, 10)
        backend.close()
        await redis.aclose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The gateway's app; ConfigurationError (from load_tenants) if its tenants are not
    configured right, so a gateway without keys never starts."""
    settings = settings or Settings()
    app = FastAPI(
        title="batchrelay gateway",
        summary="OpenAI's Files and Batches API, served from batchrelay's queues.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tenants = load_tenants(settings)
    app.state.keys = Keys(settings.namespace)
    install_error_handlers(app)
    app.add_middleware(RequestCounter)
    app.include_router(health)
    for router in ROUTERS:
        app.include_router(router)
    return app
