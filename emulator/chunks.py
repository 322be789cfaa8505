"""Executing a chunk of input lines and writing their outcomes."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.config import BatchFaults
from emulator.lines import (
    LineOutcome,
    custom_id_of,
    execute_locally,
    injected_fault,
    parse_line,
    response_outcome,
)
from emulator.outputs import BatchOutputs

if TYPE_CHECKING:
    from emulator.forward import Forwarder

InputLines = Iterator[tuple[int, bytes]]


@dataclass
class ChunkStats:
    lines: int = 0
    completed: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def count(self, outcome: LineOutcome) -> None:
        self.lines += 1
        if outcome.succeeded:
            self.completed += 1
            self.input_tokens += outcome.input_tokens
            self.output_tokens += outcome.output_tokens
        else:
            self.failed += 1


def _record(outcomes: Iterable[LineOutcome], outputs: BatchOutputs) -> ChunkStats:
    """Writes each outcome as it comes and counts it."""
    stats = ChunkStats()
    for outcome in outcomes:
        outputs.write(outcome)
        stats.count(outcome)
    return stats


def run_local_chunk(
    lines: InputLines, count: int, outputs: BatchOutputs, faults: BatchFaults, rng: random.Random
) -> ChunkStats:
    """Runs in a worker thread: each outcome is written as soon as it exists."""
    return _record(
        (execute_locally(raw, faults, rng) for _, raw in itertools.islice(lines, count)), outputs
    )


async def run_forwarded_chunk(
    lines: InputLines,
    count: int,
    outputs: BatchOutputs,
    faults: BatchFaults,
    rng: random.Random,
    forwarder: Forwarder,
) -> ChunkStats:
    raws = await asyncio.to_thread(lambda: [raw for _, raw in itertools.islice(lines, count)])

    async def forward(raw: bytes) -> LineOutcome:
        line = parse_line(raw)
        faulted = injected_fault(line, faults, rng)
        if faulted is not None:
            return faulted
        status, body = await forwarder.call(line.url, line.body)
        return response_outcome(line.custom_id, status, body)

    outcomes = await asyncio.gather(*(forward(raw) for raw in raws))
    return _record(outcomes, outputs)


def write_unfinished(
    lines: InputLines, outputs: BatchOutputs, outcome_of: Callable[[str], LineOutcome]
) -> None:
    """Writes a `batch_expired`/`batch_cancelled` error line for each line not yet run."""
    for _, raw in lines:
        outputs.write(outcome_of(custom_id_of(raw)))
