"""Submit windows sent ahead of their replies (Producer.submit_many).

Redis runs one window while the next waits in its socket buffer and the one after is validated
here. No threads: with sender threads the producer spent its time handing the GIL back and
forth, and Redis sat idle a fifth of the time. Each window in flight has a connection of its
own, whose replies are read in order.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from producers.errors import Rejection
from producers.keys import partition_tag
from producers.models import PreparedItem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from producers.producer import Producer

SUBMIT_CHUNK = 1000  # items per submit.lua call
Chunks = list[tuple[str, list[PreparedItem]]]  # (partition tag, its items) of one window
Sent = list[tuple[str, list[PreparedItem], bool]]  # each chunk sent, and whether registered


@dataclass
class SubmitReport:
    """What submit_many did with each item: stored, already known, refused, or over the limit."""

    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    queue_full: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.queue_full

    def merge(self, other: SubmitReport) -> None:
        """Add what storing another window did."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.queue_full += other.queue_full

    def add(self, items: list[PreparedItem], codes: list[int]) -> None:
        """Record submit.lua's code for each item: 1 stored, 0 known, -1 queue full."""
        outcome = {1: self.accepted, 0: self.duplicates, -1: self.queue_full}
        for item, code in zip(items, codes, strict=True):
            outcome[code].append(item.id)


def by_partition(window: list[PreparedItem]) -> Chunks:
    """A window's items in chunks, each of one partition and at most SUBMIT_CHUNK long."""
    groups: dict[str, list[PreparedItem]] = {}
    for item in window:
        groups.setdefault(partition_tag(item.endpoint, item.model), []).append(item)
    return [
        (ptag, items[start : start + SUBMIT_CHUNK])
        for ptag, items in groups.items()
        for start in range(0, len(items), SUBMIT_CHUNK)
    ]


class WindowSender:
    """Sends windows of prepared items, at most ``depth`` in flight."""

    def __init__(self, producer: Producer, depth: int) -> None:
        self.producer = producer
        self.pool = producer.redis.connection_pool
        self.depth = depth
        self.in_flight: deque[tuple[Any | None, Sent, str]] = deque()
        self.idle: list[Any] = []

    def send(self, window: list[PreparedItem]) -> SubmitReport | None:
        """Send a window. With ``depth`` already in flight, first wait for the oldest and
        return what it did."""
        done = self._finish() if len(self.in_flight) >= self.depth else None
        now = repr(time.time())
        commands, sent = [], []
        for ptag, items in by_partition(window):
            register = self.producer.needs_registration(ptag)
            if register:  # first, in a round trip of its own (rare)
                self.producer.register(ptag, items[0])
            commands.append(self.producer.submit_command(ptag, items, now, register))
            sent.append((ptag, items, register))
        conn = self.idle.pop() if self.idle else self.pool.get_connection()
        try:
            conn.send_packed_command(conn.pack_commands(commands))
        except (ConnectionError, TimeoutError):
            self._drop(conn)  # stored when it is finished, through the client's retries
            conn = None
        except BaseException:
            self._drop(conn)
            raise
        self.in_flight.append((conn, sent, now))
        return done

    def drain(self) -> Iterator[SubmitReport]:
        """What each window still in flight did, oldest first."""
        while self.in_flight:
            yield self._finish()

    def close(self) -> None:
        """Give the connections back; drop those with replies still coming (after an error)."""
        while self.in_flight:
            conn = self.in_flight.popleft()[0]
            if conn is not None:
                self._drop(conn)
        for conn in self.idle:
            self.pool.release(conn)
        self.idle = []

    def _finish(self) -> SubmitReport:
        conn, sent, now = self.in_flight.popleft()
        report = SubmitReport()
        rest = deque(sent)
        try:
            while conn is not None and rest:
                ptag, items, registered = rest[0]
                try:
                    reply = conn.read_response()
                except ResponseError as error:
                    reply = error
                codes = self.producer.submit_codes(ptag, reply, registered)
                if codes is None:  # it did not run (Redis forgot the script or the partition)
                    codes = self.producer.store_chunk(ptag, items, now)
                report.add(items, codes)
                rest.popleft()
        except (ConnectionError, TimeoutError):
            # The rest go again, through the client and its retries; what the lost attempt
            # stored is then reported as known, as a retried pipeline would.
            self._drop(conn)
            conn = None
        except BaseException:
            self._drop(conn)
            raise
        for ptag, items, _ in rest:
            report.add(items, self.producer.store_chunk(ptag, items, now))
        if conn is not None:
            self.idle.append(conn)
        return report

    def _drop(self, conn: Any) -> None:
        conn.disconnect()
        self.pool.release(conn)
