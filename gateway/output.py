"""A finished gateway batch's output and error files, generated from the stored results line
by line in OpenAI's output format, a thousand items a round trip: never held whole."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.backend import Backend
from gateway.batchstore import GatewayBatch, item_id
from producers.keys import PartitionKeys
from producers.replies import text
from producers.results import read_results

READ_CHUNK = 1000
OUTPUT, ERRORS = "output", "error"


def request_id(batch_id: str, line: int) -> str:
    """A stable id per line, shaped like OpenAI's ``batch_req_...``."""
    return "batch_req_" + hashlib.sha1(f"{batch_id}-{line}".encode()).hexdigest()[:24]


def locate(backend: Backend, batch: GatewayBatch, ids: list[str]) -> dict[str, PartitionKeys]:
    """Each item's partition: the batch's only one, or (several models) the one holding it."""
    tags = batch.partitions
    if len(tags) == 1:
        keys = backend.keys.partition(tags[0])
        return dict.fromkeys(ids, keys)
    pipe = backend.redis.pipeline(transaction=False)
    for i in ids:
        for tag in tags:
            pipe.exists(backend.keys.partition(tag).item(i))
    found = iter(pipe.execute())
    located: dict[str, PartitionKeys] = {}
    for i in ids:
        for tag in tags:
            if next(found):
                located[i] = backend.keys.partition(tag)
    return located


def line_of(which: str, number: int, batch_id: str, custom_id: str, found: Any) -> bytes | None:
    """The output (or error) file's line of one item, or None when it belongs to the other."""
    state, fields, raw = found.state, found.fields, found.raw
    outcome = fields.get("outcome") or ("succeeded" if state == "succeeded" else "")
    if outcome not in ("succeeded", "dead"):
        return None  # not finished (a batch that ended early): the error file says so below
    if (outcome == "succeeded") != (which == OUTPUT):
        return None
    result = orjson.loads(raw) if raw else {}
    error = result.get("error")
    if outcome == "dead" and not error and not result.get("response"):
        error = {"code": fields.get("code") or "failed", "message": fields.get("message") or ""}
    return orjson.dumps(
        {
            "id": request_id(batch_id, number),
            "custom_id": custom_id,
            "response": result.get("response"),
            "error": error if outcome == "dead" else None,
        }
    )


def lines(backend: Backend, batch: GatewayBatch, which: str) -> Iterator[bytes]:
    """The lines of the batch's output (``"output"``) or error (``"error"``) file, each with
    its newline, in the input file's order."""
    total = int(batch.number("total"))
    lines_key = backend.keys.gateway_batch_lines(batch.id)
    for start in range(0, total, READ_CHUNK):
        custom_ids = [
            text(c) for c in backend.redis.lrange(lines_key, start, start + READ_CHUNK - 1)
        ]
        ids = [item_id(batch.id, n) for n in range(start, start + len(custom_ids))]
        found = read_results(
            backend.redis, locate(backend, batch, ids), ("outcome", "code", "message")
        )
        out = []
        for n, (i, custom_id) in enumerate(zip(ids, custom_ids, strict=True), start=start):
            stored = found.get(i)
            line = None if stored is None else line_of(which, n, batch.id, custom_id, stored)
            if line is not None:
                out.append(line)
        if out:
            yield b"\n".join(out) + b"\n"
