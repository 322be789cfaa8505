"""Intake: a `validating` gateway batch's file checked line by line, then enqueued as work
items of the batch's own group, one per line (gateway/validation.py says how a line is
checked). A file with any bad line fails the batch with OpenAI's errors and enqueues nothing.

Intake runs in a janitor thread holding the batch's lock, and is redone from the start when
the gateway running it died: item ids are `<batch id>-<line>`, so lines enqueued before are
duplicates, not stored twice."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from itertools import islice

import orjson

from gateway.backend import Backend
from gateway.batchstore import GatewayBatch
from gateway.validation import LineChecker, Problem, file_lines
from producers.models import PreparedItem
from producers.replies import text

log = logging.getLogger("batchrelay.gateway")
UNIQUE_CHUNK = 1000
SUBMIT_SLICE = 10_000


def intake(backend: Backend, batch: GatewayBatch, keep_lock: Callable[[], object]) -> None:
    """Validate the batch's file; then enqueue it and move the batch to `in_progress`, or fail
    it with the file's errors; then let the file be deleted again."""
    read(backend, batch, keep_lock)
    file_key = backend.keys.gateway_file(batch.fields["input_file_id"])
    if text(backend.redis.hget(file_key, "validating") or b"") == batch.id:
        backend.redis.hdel(file_key, "validating")


def read(backend: Backend, batch: GatewayBatch, keep_lock: Callable[[], object]) -> None:
    """The two passes over the file, and the batch's move to `in_progress` or `failed`."""
    checker = check_file(backend, batch, keep_lock)
    if checker.lines > backend.settings.max_queued:
        checker.fail(
            "too_many_requests",
            None,
            f"The file has {checker.lines} requests; at most {backend.settings.max_queued} "
            "(BATCHRELAY_MAX_QUEUED) may wait in a batch's queue.",
        )
    if checker.lines == 0:
        checker.fail("empty_file", None, "The batch input file is empty.")
    if checker.problems:
        errors = {"object": "list", "data": [p.to_json() for p in checker.problems]}
        backend.batches.move(
            batch.id, frozenset({"validating"}), "failed", errors=orjson.dumps(errors).decode()
        )
        log.info("gateway batch %s: failed validation (%d errors)", batch.id, checker.problem_count)
        return
    # Written first: a batch cancelled during intake must know where its items went.
    partitions = orjson.dumps(sorted(checker.partitions)).decode()
    backend.batches.update(batch.id, total=checker.lines, partitions=partitions)
    enqueued = enqueue(backend, batch, checker, keep_lock)
    if enqueued != checker.lines:  # the file changed between the passes: it cannot, but if
        raise RuntimeError(f"gateway batch {batch.id}: {enqueued} of {checker.lines} enqueued")
    backend.batches.move(batch.id, frozenset({"validating"}), "in_progress")
    log.info("gateway batch %s: %d requests enqueued", batch.id, checker.lines)


def check_file(
    backend: Backend, batch: GatewayBatch, keep_lock: Callable[[], object]
) -> LineChecker:
    """The first pass: every line checked, duplicates found through a Redis set."""
    keys = backend.keys
    checker = LineChecker(
        batch_id=batch.id,
        tenant=batch.tenant,
        endpoint=batch.fields["endpoint"],
        route=backend.route,
        max_line_bytes=backend.settings.item_byte_limit(),
        redis=backend.redis,
        seen_key=keys.gateway_batch_seen(batch.id),
    )
    backend.redis.delete(checker.seen_key)
    numbered: list[tuple[int, str]] = []
    for number, raw in enumerate(file_lines(backend.redis, keys, batch.fields["input_file_id"])):
        checked = checker.check(number, raw)
        if checked is not None:
            numbered.append((number, checked[1]))
        if len(numbered) >= UNIQUE_CHUNK:
            checker.check_unique(numbered)
            numbered.clear()
            keep_lock()
    if numbered:
        checker.check_unique(numbered)
    backend.redis.delete(checker.seen_key)
    return checker


def enqueue(
    backend: Backend, batch: GatewayBatch, checker: LineChecker, keep_lock: Callable[[], object]
) -> int:
    """The second pass: the custom_ids listed in line order, and every line submitted; how
    many lines it enqueued."""
    lines_key = backend.keys.gateway_batch_lines(batch.id)
    backend.redis.delete(lines_key)
    custom_ids: list[bytes] = []

    def flush() -> None:
        keep_lock()  # raises once another replica may have taken the batch over
        if custom_ids:
            backend.redis.rpush(lines_key, *custom_ids)
            custom_ids.clear()

    def items() -> Iterator[PreparedItem]:
        lines = file_lines(backend.redis, backend.keys, batch.fields["input_file_id"])
        for number, raw in enumerate(lines):
            line = orjson.loads(raw)
            custom_ids.append(line["custom_id"].encode())
            if len(custom_ids) >= UNIQUE_CHUNK:
                flush()
            yield checker.prepared(number, line)
        flush()

    stream = items()
    enqueued = 0
    # A slice at a time: a report lists every id, and a file may hold millions.
    while chunk := list(islice(stream, SUBMIT_SLICE)):
        keep_lock()
        enqueued += len(chunk)
        report = backend.producer.submit_many(chunk)
        if not report.ok:
            # Checked already: only a full queue (BATCHRELAY_MAX_QUEUED) can refuse one now.
            raise RuntimeError(f"gateway batch {batch.id}: {len(report.queue_full)} refused")
    return enqueued


__all__ = ["Problem", "intake"]
