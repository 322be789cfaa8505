"""Bulk settles of a batch's successes (settle_successes.lua), sent ahead of their replies.

A chunk is sent and its reply read later, when the next chunk is ready: Redis stores a chunk
while the collector parses the next one. No thread: one would spend as long handing the GIL
back and forth as Redis spends working. One chunk at a time is in flight: Redis reads no
command while it runs one, so sending a second would only block.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from producers.keys import batch_entry
from producers.scripts import NoScriptError
from worker.store import Batch, Settled, Store
from worker.store.calls import SettleSuccesses


@dataclass(frozen=True, slots=True)
class SuccessChunk:
    """A bulk settle ready to send: its call, packed once, and its items."""

    call: SettleSuccesses
    packed: Any
    ids: list[str]
    to_deliver: list[str]


class BulkSettler:
    """Sends one batch's bulk settles, one in flight, on a connection of its own."""

    def __init__(self, store: Store, batch: Batch) -> None:
        self.store = store
        self.batch = batch
        self.keys = store.keys_of(batch.partition)
        self.pool = store.redis.connection_pool
        self.conn: Any = None
        self.in_flight: SuccessChunk | None = None

    def prepare(self, pairs: list[bytes], ids: list[str], no_callback: set[str]) -> SuccessChunk:
        """A chunk to send: ``pairs`` holds each item's id and output line (which becomes its
        result as it is), ``ids`` the same ids; those in ``no_callback`` have no callback."""
        if no_callback:
            flags = b"".join([b"1" if i in no_callback else b"0" for i in ids])
            to_deliver = [i for i in ids if i not in no_callback]
        else:
            flags, to_deliver = b"0" * len(ids), ids
        now = time.time()
        keys, settings = self.keys, self.store.settings
        call = SettleSuccesses(
            results=keys.results(self.batch.id),
            undelivered=keys.undelivered,
            counts=keys.counts,
            batch=keys.batch(self.batch.id),
            now=repr(now),
            delivery_until=repr(now + settings.lease_seconds),
            result_ttl=settings.result_ttl,
            waiting_prefix=keys.waiting(""),
            notify_prefix=keys.notify(""),
            item_prefix=keys.item_prefix,
            batch_entry=batch_entry(self.batch.id),
            no_callback_flags=flags,
            ids_and_lines=pairs,
        )
        packed = self._connection().pack_command(*self.store.scripts.command(call))
        return SuccessChunk(call, packed, ids, to_deliver)

    def send(self, chunk: SuccessChunk) -> None:
        """Send a prepared chunk; the one before it must have had its result() read."""
        assert self.in_flight is None, "one chunk in flight at a time"
        try:
            self._connection().send_packed_command(chunk.packed)
        except BaseException:
            self.close(drop=True)  # whatever part of it went
            raise
        self.in_flight = chunk

    def result(self) -> Settled | None:
        """Wait for the reply of the chunk in flight (None if there is none): its items
        stored (those with a callback now await delivery), and those skipped as settled."""
        chunk = self.in_flight
        if chunk is None:
            return None
        try:
            skipped = self.conn.read_response()
        except NoScriptError:  # Redis restarted and forgot the script: run it again
            skipped = self.store.scripts.run(chunk.call)
        except BaseException:
            self.close(drop=True)
            raise
        self.in_flight = None
        to_deliver = chunk.to_deliver
        if skipped:
            already = {chunk.ids[n] for n in skipped}
            to_deliver = [i for i in to_deliver if i not in already]
        return Settled(len(chunk.ids) - len(skipped), 0, 0, len(skipped), to_deliver)

    def close(self, drop: bool = False) -> None:
        """Give the connection back; drop it instead when a reply may still be coming."""
        if self.conn is None:
            return
        if drop or self.in_flight is not None:
            self.in_flight = None
            self.conn.disconnect()
        self.pool.release(self.conn)
        self.conn = None

    def _connection(self) -> Any:
        if self.conn is None:
            self.conn = self.pool.get_connection()
        return self.conn
