"""Submit windows sent ahead of their replies (Producer.submit_many).

Redis runs one window while the next waits in its socket buffer and the one after is validated
here. No threads: with sender threads the producer spent its time handing the GIL back and
forth, and Redis sat idle a fifth of the time. Each window in flight has a connection of its
own, whose replies are read in order. A window whose connection fails is stored again through
the client (ItemWriter.write), which reports what the lost attempt stored as known.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError, ReadOnlyError, ResponseError, TimeoutError

from producers.errors import Rejection
from producers.models import PreparedItem
from producers.storing import DUPLICATE, QUEUE_FULL, STORED, SUBMIT_CHUNK, ItemWriter

Sent = list[tuple[str, list[PreparedItem], bool]]  # each chunk sent: tag, items, registered


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
        """Record submit.lua's code for each item."""
        outcome = {STORED: self.accepted, DUPLICATE: self.duplicates, QUEUE_FULL: self.queue_full}
        for item, code in zip(items, codes, strict=True):
            outcome[code].append(item.id)


def by_partition(window: list[PreparedItem]) -> list[tuple[str, list[PreparedItem]]]:
    """A window's items in chunks, each of one partition and at most SUBMIT_CHUNK long."""
    groups: dict[str, list[PreparedItem]] = {}
    for item in window:
        groups.setdefault(item.partition, []).append(item)
    return [
        (tag, items[start : start + SUBMIT_CHUNK])
        for tag, items in groups.items()
        for start in range(0, len(items), SUBMIT_CHUNK)
    ]


Write = Callable[[str, list[PreparedItem], str], list[int]]
Register = Callable[[str, PreparedItem], None]


class WindowSender:
    """Sends windows of prepared items, at most ``depth`` in flight, each on a connection of
    its own taken from ``redis``'s pool; ``write`` and ``register`` do the same through the
    client, riding out an outage (Producer's)."""

    def __init__(
        self, writer: ItemWriter, redis: Redis, write: Write, register: Register, depth: int
    ) -> None:
        self.writer = writer
        self.pool = redis.connection_pool
        self.write = write
        self.register = register
        self.depth = depth
        self.in_flight: deque[tuple[Any | None, Sent, str]] = deque()
        self.idle: list[Any] = []

    def send(self, window: list[PreparedItem]) -> SubmitReport | None:
        """Send a window. With ``depth`` already in flight, first wait for the oldest and
        return what it did."""
        done = self._finish() if len(self.in_flight) >= self.depth else None
        now = repr(time.time())
        commands, sent = [], []
        for tag, items in by_partition(window):
            register = self.writer.needs_registration(tag)
            if register:  # first, in a round trip of its own (rare)
                self.register(tag, items[0])
            commands.append(self.writer.command(tag, items, now, register))
            sent.append((tag, items, register))
        if self.writer.replication.enabled:  # read after the chunks' replies
            commands.append(self.writer.replication.wait_command())
        conn = None
        try:
            conn = self.idle.pop() if self.idle else self.pool.get_connection()
            conn.send_packed_command(conn.pack_commands(commands))
        except (ConnectionError, TimeoutError, ReadOnlyError):
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
            self._drop(self.in_flight.popleft()[0])
        for conn in self.idle:
            self.pool.release(conn)
        self.idle = []

    def _finish(self) -> SubmitReport:
        conn, sent, now = self.in_flight.popleft()
        replication = self.writer.replication
        read: list[list[int]] = []  # the codes of the chunks whose replies were read
        lost = conn is None
        try:
            if conn is not None:
                for tag, items, registered in sent:
                    try:
                        reply = conn.read_response()
                    except ReadOnlyError:  # a demoted primary: as good as gone
                        raise
                    except ResponseError as error:
                        reply = error
                    codes = self.writer.codes(tag, reply, registered)
                    if codes is None:  # it did not run (Redis forgot the script or partition)
                        codes = self.write(tag, items, now)
                    read.append(codes)
                if replication.enabled:
                    replication.check(conn.read_response())
        except (ConnectionError, TimeoutError, ReadOnlyError):
            self._drop(conn)
            conn, lost = None, True
        except BaseException:
            self._drop(conn)
            raise
        report = SubmitReport()
        for n, (tag, items, _) in enumerate(sent):
            codes = read[n] if n < len(read) else None
            if codes is None or (lost and replication.enabled):
                # Through the client and its retries. With replicas required, even a chunk
                # whose reply was read goes again: what it stored may not have reached one,
                # and write() waits for them (an item already stored reads as known).
                again = self.write(tag, items, now)
                # STORED > DUPLICATE > QUEUE_FULL: stored by either try is stored.
                codes = again if codes is None else list(map(max, codes, again))
            report.add(items, codes)
        if conn is not None:
            self.idle.append(conn)
        return report

    def _drop(self, conn: Any | None) -> None:
        if conn is not None:
            conn.disconnect()
            self.pool.release(conn)
