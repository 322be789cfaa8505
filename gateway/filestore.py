"""The gateway's files in Redis: a HASH per file, its bytes in a LIST of chunks, and a ZSET
per tenant (producers/keys.md, ``gw:file``).

An upload's chunks are pushed as they arrive, with a TTL, and the record is written after the
last one, in one MULTI that also drops the TTL: a half upload is never visible, and one cut
off by a dying gateway expires by itself. A batch's output and error files are written the
same way when it finishes (gateway/output.py), and expire with its results.
"""

from __future__ import annotations

import builtins
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from gateway.errors import GatewayError, not_found
from producers.keys import Keys

CHUNK_BYTES = 1024 * 1024
PENDING_UPLOAD_TTL = 3600
"""Seconds the chunks of an upload in progress outlive its last push."""
MAX_LIST_LIMIT = 10_000
LIST_WINDOW = 1000
"""Index entries read per round while a list filters by purpose."""


Text = builtins.bytes | str


def _text(value: Text) -> str:
    return value.decode() if isinstance(value, builtins.bytes) else value


def new_file_id() -> str:
    """An id shaped like OpenAI's: ``file-`` and 24 hex digits."""
    return "file-" + secrets.token_hex(12)


@dataclass(frozen=True)
class FileRecord:
    """One file's record."""

    id: str
    tenant: str
    filename: str
    purpose: str
    bytes: int
    created_at: int

    def fields(self) -> dict[str, str | int]:
        """The record's HASH."""
        return {
            "tenant": self.tenant,
            "filename": self.filename,
            "purpose": self.purpose,
            "bytes": self.bytes,
            "created_at": self.created_at,
        }

    @classmethod
    def from_hash(cls, file_id: str, raw: Mapping[Text, Text]) -> FileRecord:
        """The record of a HASH as redis-py reads it (bytes, or str when decoding)."""
        values = {_text(key): _text(value) for key, value in raw.items()}
        return cls(
            id=file_id,
            tenant=values["tenant"],
            filename=values["filename"],
            purpose=values["purpose"],
            bytes=int(values["bytes"]),
            created_at=int(values["created_at"]),
        )

    def to_json(self) -> dict[str, Any]:
        """OpenAI's file object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }


@dataclass(frozen=True)
class FilePage:
    records: list[FileRecord]
    has_more: bool

    def to_json(self) -> dict[str, Any]:
        """OpenAI's list object."""
        return {
            "object": "list",
            "data": [record.to_json() for record in self.records],
            "first_id": self.records[0].id if self.records else None,
            "last_id": self.records[-1].id if self.records else None,
            "has_more": self.has_more,
        }


class FileStore:
    """Files of every tenant; every read by id checks the tenant, and answers another
    tenant's file exactly as a missing one."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    # -- uploads ----------------------------------------------------------------------------

    async def push_chunk(self, file_id: str, data: bytes) -> None:
        """Append a chunk (up to CHUNK_BYTES) of an upload in progress."""
        chunks = self.keys.gateway_file_chunks(file_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(chunks, data)
            pipe.expire(chunks, PENDING_UPLOAD_TTL)
            await pipe.execute()

    async def commit_upload(
        self, tenant: str, file_id: str, filename: str, purpose: str, size: int
    ) -> FileRecord:
        """Make an upload whose chunks are all pushed a file: the record, in one MULTI."""
        record = FileRecord(file_id, tenant, filename, purpose, size, int(time.time()))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.persist(self.keys.gateway_file_chunks(file_id))
            self.write_record(pipe, record)
            await pipe.execute()
        return record

    async def discard_chunks(self, file_id: str) -> None:
        """Drop the chunks of an upload that failed."""
        await self.redis.delete(self.keys.gateway_file_chunks(file_id))

    def write_record(self, pipe: Pipeline, record: FileRecord) -> None:
        """Queue the writes of a record and its index entry on ``pipe``, so a caller can make
        them part of its own MULTI."""
        fields: dict[FieldT, EncodableT] = {k: v for k, v in record.fields().items()}
        pipe.hset(self.keys.gateway_file(record.id), mapping=fields)
        # The exact time, not created_at's whole seconds: files list in the order made.
        pipe.zadd(self.keys.gateway_files(record.tenant), {record.id: time.time()})

    # -- reads ------------------------------------------------------------------------------

    async def find(self, tenant: str, file_id: str) -> FileRecord | None:
        """The tenant's file, or None (also when the file is another tenant's)."""
        raw = await self.redis.hgetall(self.keys.gateway_file(file_id))
        if not raw:
            return None
        record = FileRecord.from_hash(file_id, raw)
        return record if record.tenant == tenant else None

    async def get(self, tenant: str, file_id: str) -> FileRecord:
        """The tenant's file, or the 404 GatewayError."""
        record = await self.find(tenant, file_id)
        if record is None:
            raise not_found("File", file_id)
        return record

    async def page(
        self,
        tenant: str,
        *,
        after: str | None = None,
        limit: int = MAX_LIST_LIMIT,
        order: Literal["asc", "desc"] = "desc",
        purpose: str | None = None,
    ) -> FilePage:
        """A page of the tenant's files by creation time, following the file ``after`` (an
        unknown one gives an empty page, as OpenAI's does)."""
        index = self.keys.gateway_files(tenant)
        descending = order == "desc"
        start = 0
        if after is not None:
            find_rank = self.redis.zrevrank if descending else self.redis.zrank
            rank = cast(int | None, await find_rank(index, after))
            if rank is None:
                return FilePage([], False)
            start = rank + 1
        found: list[FileRecord] = []
        window = limit + 1 if purpose is None else max(limit + 1, LIST_WINDOW)
        while len(found) <= limit:
            ids = cast(
                list[Text],
                await self.redis.zrange(index, start, start + window - 1, desc=descending),
            )
            if not ids:
                break
            start += len(ids)
            for record in await self._load([_text(i) for i in ids]):
                if record.tenant == tenant and purpose in (None, record.purpose):
                    found.append(record)
        return FilePage(found[:limit], len(found) > limit)

    async def _load(self, file_ids: list[str]) -> list[FileRecord]:
        """The records of these ids, in order, leaving out any deleted meanwhile."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for file_id in file_ids:
                pipe.hgetall(self.keys.gateway_file(file_id))
            raws: list[dict[Text, Text]] = await pipe.execute()
        return [FileRecord.from_hash(i, raw) for i, raw in zip(file_ids, raws, strict=True) if raw]

    async def chunks(self, file_id: str) -> AsyncIterator[bytes]:
        """A file's bytes, one chunk (one LRANGE) at a time; a delete meanwhile ends it."""
        key = self.keys.gateway_file_chunks(file_id)
        index = 0
        while chunk := cast(list[bytes], await self.redis.lrange(key, index, index)):
            yield chunk[0]
            index += 1

    # -- delete -----------------------------------------------------------------------------

    async def delete(self, tenant: str, file_id: str) -> FileRecord:
        """Delete the tenant's file (record, chunks, index entry), or raise the 404; a 409
        while a batch of it is still validating (reading it)."""
        record = await self.get(tenant, file_id)
        reader = await self.redis.hget(self.keys.gateway_file(file_id), "validating")
        if reader is not None:
            batch_id = _text(reader)
            status = await self.redis.hget(self.keys.gateway_batch(batch_id), "status")
            if status is not None and _text(status) == "validating":
                raise GatewayError(
                    409,
                    f"File {file_id} is being read by batch {batch_id}, which is validating.",
                    code="file_in_use",
                )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.gateway_file(file_id), self.keys.gateway_file_chunks(file_id))
            pipe.zrem(self.keys.gateway_files(tenant), file_id)
            await pipe.execute()
        return record
