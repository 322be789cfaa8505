"""Waiting with a progress bar until items are finished."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producers.producer import Producer
from worker.cli.output import console

IN_FLIGHT_STATES = ("queued", "packed", "submitted", "succeeded", "dead")


def in_flight(producer: Producer) -> int:
    """Items not yet delivered, over every partition (from the per-partition counters)."""
    total = 0
    for tag in producer.partitions():
        counts = producer.redis.hmget(producer.keys.partition(tag).counts, *IN_FLIGHT_STATES)
        total += sum(int(c or 0) for c in counts)
    return total


def track(total: int, done: Callable[[], int], timeout: float, label: str) -> bool:
    """Show a bar until done() reaches total; False on timeout."""
    deadline = time.monotonic() + timeout
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console(), transient=False) as progress:
        task = progress.add_task(label, total=total)
        while True:
            finished = done()
            progress.update(task, completed=finished)
            if finished >= total:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)


def wait_for_idle(producer: Producer, timeout: float) -> bool:
    """Wait until no item is in flight, with a bar over the items seen in flight at the start."""
    start = in_flight(producer)
    if start == 0:
        return True
    return track(start, lambda: max(0, start - in_flight(producer)), timeout, "delivering")
