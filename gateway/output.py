"""A finished gateway batch's output and error files, in OpenAI's output format, in the input
file's order, generated from the stored results when the batch finishes and written to Redis
as a file like an upload: a download then streams stored chunks, as fast as an upload comes in.

Generation reads a thousand items a round trip (their fields, then their results) and writes
1 MiB chunks as it goes, so no file is ever held whole. The chunks go to a key of their own
and become the file, with its record, in one MULTI: a janitor that dies half way leaves only
chunks that expire, and the next one writes the file again under the same id."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from gateway.backend import Backend
from gateway.batchstore import GatewayBatch, item_id
from gateway.filestore import CHUNK_BYTES, PENDING_UPLOAD_TTL, FileRecord
from producers.keys import PartitionKeys
from producers.replies import text
from producers.results import TAIL_START

READ_CHUNK = 1000
OUTPUT, ERRORS = "output", "error"
ITEM_FIELDS = ("state", "batch", "outcome", "code", "message")


def request_id(batch_id: str, line: int) -> str:
    """A stable id per line, shaped like OpenAI's ``batch_req_...``."""
    return "batch_req_" + hashlib.sha1(f"{batch_id}-{line}".encode()).hexdigest()[:24]


def output_file_id(batch_id: str, which: str) -> str:
    """The same id for every attempt at writing the file: a second attempt replaces the first."""
    return "file-" + hashlib.sha256(f"{batch_id}:{which}".encode()).hexdigest()[:24]


def locate(backend: Backend, batch: GatewayBatch, ids: list[str]) -> list[PartitionKeys | None]:
    """Each item's partition: the batch's only one, or (several models) the one holding it."""
    tags = batch.partitions
    if len(tags) == 1:
        return [backend.keys.partition(tags[0])] * len(ids)
    pipe = backend.redis.pipeline(transaction=False)
    for i in ids:
        for tag in tags:
            pipe.exists(backend.keys.partition(tag).item(i))
    found = iter(pipe.execute())
    located: list[PartitionKeys | None] = []
    for _ in ids:
        hits = [tag for tag in tags if next(found)]
        located.append(backend.keys.partition(hits[0]) if hits else None)
    return located


def outcome_of(state: str, outcome: str, stored: bytes | None) -> str:
    """``succeeded``, ``dead`` or "" (not finished: a batch that ended early)."""
    if outcome in ("succeeded", "dead"):
        return outcome
    # A result stored while the item still reads submitted is a success not yet delivered.
    if state in ("succeeded", "submitted") and stored:
        return "succeeded"
    return ""


def response_and_error(stored: bytes | None) -> tuple[Any, Any]:
    """The response and error of a stored result: a result's tail, or an output line of the
    provider's as it came (producers/results.py)."""
    if not stored:
        return None, None
    found = orjson.loads(b"{" + stored if stored.startswith(TAIL_START) else stored)
    return found.get("response"), found.get("error")


def read_chunk(
    backend: Backend, batch: GatewayBatch, ids: list[str]
) -> list[tuple[list[str], bytes | None]]:
    """Each item's fields (ITEM_FIELDS) and stored result, in two round trips."""
    located = locate(backend, batch, ids)
    pipe = backend.redis.pipeline(transaction=False)
    for i, keys in zip(ids, located, strict=True):
        if keys is None:
            pipe.echo("")
        else:
            pipe.hmget(keys.item(i), ITEM_FIELDS)
    fields = [
        [text(v) if v is not None else "" for v in (row if isinstance(row, list) else [])]
        or [""] * len(ITEM_FIELDS)
        for row in pipe.execute()
    ]
    pipe = backend.redis.pipeline(transaction=False)
    for i, keys, f in zip(ids, located, fields, strict=True):
        if keys is None or not f[1]:
            pipe.echo("")
        else:
            pipe.hget(keys.results(f[1]), i)
    return [(f, raw or None) for f, raw in zip(fields, pipe.execute(), strict=True)]


def lines(backend: Backend, batch: GatewayBatch, which: str) -> Iterator[bytes]:
    """The lines of the batch's output (``"output"``) or error (``"error"``) file, each with
    its newline, in the input file's order, a thousand at a time."""
    total = int(batch.number("total"))
    lines_key = backend.keys.gateway_batch_lines(batch.id)
    for start in range(0, total, READ_CHUNK):
        custom_ids = [
            text(c) for c in backend.redis.lrange(lines_key, start, start + READ_CHUNK - 1)
        ]
        ids = [item_id(batch.id, n) for n in range(start, start + len(custom_ids))]
        out = []
        for n, (custom_id, (fields, stored)) in enumerate(
            zip(custom_ids, read_chunk(backend, batch, ids), strict=True), start=start
        ):
            state, _, outcome, code, message = fields
            ended = outcome_of(state, outcome, stored)
            if not ended or (ended == "succeeded") != (which == OUTPUT):
                continue
            response, error = response_and_error(stored)
            if ended == "dead" and not error and not response:
                error = {"code": code or "failed", "message": message}
            line = {
                "id": request_id(batch.id, n),
                "custom_id": custom_id,
                "response": response,
                "error": error if ended == "dead" else None,
            }
            out.append(orjson.dumps(line))
        if out:
            yield b"\n".join(out) + b"\n"


def write_file(
    backend: Backend,
    batch: GatewayBatch,
    which: str,
    keep_lock: Callable[[], object] = lambda: None,
) -> str | None:
    """Write the batch's output or error file; its id, or None when it has no line.
    ``keep_lock`` renews the batch's lock before every write (and raises once it is lost)."""
    file_id = output_file_id(batch.id, which)
    keys = backend.keys
    pending = keys.gateway_file_chunks(file_id) + ":" + secrets.token_hex(4)
    size = 0
    buffer = bytearray()

    def push(final: bool) -> None:
        while len(buffer) >= CHUNK_BYTES or (final and buffer):
            keep_lock()
            pipe = backend.redis.pipeline(transaction=False)
            pipe.rpush(pending, bytes(buffer[:CHUNK_BYTES]))
            pipe.expire(pending, PENDING_UPLOAD_TTL)
            pipe.execute()
            del buffer[:CHUNK_BYTES]

    for piece in lines(backend, batch, which):
        size += len(piece)
        buffer += piece
        push(final=False)
    push(final=True)
    if size == 0:
        return None
    record = FileRecord(
        file_id, batch.tenant, f"{batch.id}_{which}.jsonl", "batch_output", size, int(time.time())
    )
    ttl = backend.settings.result_ttl
    keep_lock()
    pipe = backend.redis.pipeline(transaction=True)
    pipe.rename(pending, keys.gateway_file_chunks(file_id))
    pipe.expire(keys.gateway_file_chunks(file_id), ttl)
    pipe.delete(keys.gateway_file(file_id))
    pipe.hset(keys.gateway_file(file_id), mapping=record.fields())  # type: ignore[arg-type]
    pipe.expire(keys.gateway_file(file_id), ttl)
    pipe.zadd(keys.gateway_files(record.tenant), {file_id: time.time()})
    pipe.execute()
    return file_id
