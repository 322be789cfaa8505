"""The background runner: one asyncio task per batch walks it through OpenAI's statuses.

validating -> in_progress -> finalizing -> completed, or validating -> failed,
in_progress -> expired, and (any unfinished status) -> cancelling -> cancelled.
File work runs in threads so the event loop keeps answering while a batch is processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from emulator.batches import BatchRecord
from emulator.chunks import ChunkStats, run_forwarded_chunk, run_local_chunk, write_unfinished
from emulator.config import EmulatorSettings
from emulator.files import FileStore
from emulator.lines import cancelled_outcome, expired_outcome
from emulator.outputs import BatchOutputs
from emulator.validation import Limits, input_lines, validate_input

if TYPE_CHECKING:
    from emulator.forward import Forwarder

log = logging.getLogger(__name__)

MAX_CHUNK_LINES = 500
PROGRESS_STEPS = 20


class Interrupt(enum.Enum):
    CANCEL = "cancel"
    EXPIRE = "expire"


@dataclass(frozen=True)
class RunnerContext:
    settings: EmulatorSettings
    files: FileStore
    work_root: Path
    forwarder: Forwarder | None
    on_finished: Callable[[BatchRecord, random.Random], None] | None = None
    """Told of every batch that reaches a finished status (the webhooks' hook)."""

    @property
    def limits(self) -> Limits:
        settings = self.settings
        return Limits(
            max_requests=settings.max_requests,
            max_embedding_inputs=settings.max_embedding_inputs,
            models=frozenset(settings.models) if settings.models is not None else None,
            check_model_family=self.forwarder is None,
        )


def token_limit_error(model: str | None) -> dict[str, object]:
    return {
        "code": "token_limit_exceeded",
        "line": None,
        "param": None,
        "message": f"Enqueued token limit reached for {model or 'this model'} in organization "
        "org-emulator. Limit: 2,000,000 enqueued tokens. Please try submitting fewer tasks or "
        "try again later.",
    }


class BatchJob:
    """The life of one batch, from validating to a finished status."""

    def __init__(
        self, batch: BatchRecord, stream: BinaryIO, rng: random.Random, context: RunnerContext
    ) -> None:
        self.batch = batch
        self.stream = stream
        self.rng = rng
        self.context = context
        settings = context.settings
        faults = batch.faults
        self.finalize_seconds = (
            faults.finalize_seconds
            if faults.finalize_seconds is not None
            else settings.finalizing_seconds
        )
        batch_seconds = (
            faults.batch_seconds if faults.batch_seconds is not None else settings.batch_seconds
        )
        self.processing_seconds = max(0.0, batch_seconds - self.finalize_seconds)

    async def run(self) -> None:
        try:
            if await self.validate():
                await self.process()
        finally:
            self.stream.close()

    async def wait(self, until: float, *, expire: bool) -> Interrupt | None:
        """Sleeps until `until`, woken early by a cancel or (if `expire`) the window's end."""
        batch = self.batch
        end = min(until, batch.deadline) if expire else until
        if not batch.cancel_requested.is_set():
            timeout = None if math.isinf(end) else max(0.0, end - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batch.cancel_requested.wait(), timeout)
        if batch.cancel_requested.is_set():
            return Interrupt.CANCEL
        if expire and time.time() >= batch.deadline:
            return Interrupt.EXPIRE
        return None

    async def conclude(self, status: str) -> None:
        """Moves to `status`, unless a cancel came in meanwhile: then it is `cancelled`, after
        the batch's `cancel_seconds`."""
        batch = self.batch
        if batch.status != "cancelling":
            batch.move_to(status)
            return
        if batch.faults.cancel_seconds:
            await asyncio.sleep(batch.faults.cancel_seconds)
        batch.move_to("cancelled")

    async def validate(self) -> bool:
        batch, faults = self.batch, self.batch.faults
        stuck = faults.stuck == "validating"
        until = math.inf if stuck else time.time() + self.context.settings.validating_seconds
        interrupt = await self.wait(until, expire=True)
        if interrupt is not None:
            await self.conclude("expired")
            return False
        report = await asyncio.to_thread(
            validate_input, self.stream, batch.endpoint, self.context.limits
        )
        batch.model = report.model
        if report.errors:
            batch.errors = report.errors
            await self.conclude("failed")
            return False
        if faults.fault == "token_limit_exceeded" and self.rng.random() < faults.fault_rate:
            batch.errors = [token_limit_error(report.model)]
            await self.conclude("failed")
            return False
        batch.total = report.total
        await self.conclude("in_progress")
        return batch.status == "in_progress"

    async def process(self) -> None:
        batch, faults = self.batch, self.batch.faults
        outputs = BatchOutputs(self.context.work_root / batch.id, self.rng)
        try:
            self.stream.seek(0)
            lines = input_lines(self.stream)
            interrupt = await self.process_lines(lines, outputs)
            if interrupt is None and faults.expire_fraction is not None:
                interrupt = Interrupt.EXPIRE
            if interrupt is not None:
                unfinished = cancelled_outcome if interrupt is Interrupt.CANCEL else expired_outcome
                await asyncio.to_thread(write_unfinished, lines, outputs, unfinished)
            if interrupt is None:
                batch.move_to("finalizing")
            finalize_until = time.time() + self.finalize_seconds
            if faults.stuck == "finalizing" and interrupt is None:
                finalize_until = math.inf
            output, error = await asyncio.to_thread(outputs.join, self.context.files, batch.id)
            if interrupt is not Interrupt.EXPIRE:
                await self.wait(finalize_until, expire=False)
        except BaseException:
            outputs.discard()
            raise
        for joined, attribute in ((output, "output_file_id"), (error, "error_file_id")):
            if joined is not None:
                self.context.files.add(joined.file_id, joined.filename, "batch_output")
                setattr(batch, attribute, joined.file_id)
        await self.conclude("expired" if interrupt is Interrupt.EXPIRE else "completed")

    async def process_lines(
        self, lines: Iterator[tuple[int, bytes]], outputs: BatchOutputs
    ) -> Interrupt | None:
        batch, faults = self.batch, self.batch.faults
        total = batch.total
        stop_after = total
        if faults.expire_fraction is not None:
            stop_after = math.floor(faults.expire_fraction * total)
        if faults.stuck == "in_progress":
            interrupt = await self.wait(math.inf, expire=True)
            if interrupt is not None:
                return interrupt
        chunk = max(1, min(MAX_CHUNK_LINES, math.ceil(total / PROGRESS_STEPS)))
        started, done = time.time(), 0
        while done < stop_after:
            stats = await self.run_chunk(lines, min(chunk, stop_after - done), outputs)
            if stats.lines == 0:
                break
            done += stats.lines
            batch.completed += stats.completed
            batch.failed += stats.failed
            batch.usage.add(stats.input_tokens, stats.output_tokens)
            on_schedule = started + self.processing_seconds * done / max(total, 1)
            interrupt = await self.wait(on_schedule, expire=done < total)
            if interrupt is not None:
                return interrupt
        return None

    async def run_chunk(
        self, lines: Iterator[tuple[int, bytes]], count: int, outputs: BatchOutputs
    ) -> ChunkStats:
        forwarder = self.context.forwarder
        if forwarder is None:
            return await asyncio.to_thread(
                run_local_chunk, lines, count, outputs, self.batch.faults, self.rng
            )
        return await run_forwarded_chunk(
            lines, count, outputs, self.batch.faults, self.rng, forwarder
        )


class BatchRunner:
    """Starts and tracks the background task of every live batch."""

    def __init__(self, context: RunnerContext, job_type: type[BatchJob] = BatchJob) -> None:
        self.context = context
        self.job_type = job_type
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, batch: BatchRecord, rng: random.Random) -> None:
        # Opened now, so deleting the input file right after the create does not matter.
        stream = self.context.files.body_path(batch.input_file_id).open("rb")
        job = self.job_type(batch, stream, rng, self.context)
        task = asyncio.create_task(self._guarded(job), name=f"emulator-{batch.id}")
        self._tasks[batch.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(batch.id, None))

    async def _guarded(self, job: BatchJob) -> None:
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("batch %s failed inside the emulator", job.batch.id)
            job.batch.status = "failed"
            job.batch.failed_at = int(time.time())
            job.batch.errors = [
                {"code": "server_error", "line": None, "param": None, "message": repr(exc)}
            ]
        if job.batch.finished and self.context.on_finished is not None:
            self.context.on_finished(job.batch, job.rng)

    async def stop_all(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
