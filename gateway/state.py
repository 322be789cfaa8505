"""Typed access to what the app keeps on ``app.state`` (set by gateway.app.create_app), as
FastAPI dependencies: a route asks for ``files: Files`` or ``redis: RedisClient``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from gateway.backend import Backend
from gateway.filestore import FileStore
from producers.keys import Keys
from producers.settings import Settings


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def redis_of(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


def keys_of(request: Request) -> Keys:
    keys: Keys = request.app.state.keys
    return keys


def files_of(request: Request) -> FileStore:
    files: FileStore = request.app.state.files
    return files


def backend_of(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


AppSettings = Annotated[Settings, Depends(settings_of)]
RedisClient = Annotated[Redis, Depends(redis_of)]
RedisKeys = Annotated[Keys, Depends(keys_of)]
Files = Annotated[FileStore, Depends(files_of)]
BackendDep = Annotated[Backend, Depends(backend_of)]
