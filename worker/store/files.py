"""Files at the provider: which batches still have theirs there (worker/lifecycle/files.py)."""

from __future__ import annotations

import time

from producers.replies import text
from worker.store.part import StorePart


class ProviderFiles(StorePart):
    def record_upload(self, batch_id: str, file_id: str | None) -> bool:
        """Record the batch's uploaded input file (None: the provider takes the requests in
        the create call) and, unless BATCHRELAY_KEEP_FILES, enter the batch for cleanup at the
        provider (due once its lease would have passed). False when the batch has another
        input file already (a second submitter whose lease lapsed)."""
        keys = self.store.keys_of_batch(batch_id)
        pipe = self.redis.pipeline(transaction=True)
        if file_id is not None:
            pipe.hsetnx(keys.batch(batch_id), "input_file_id", file_id)
        pipe.hget(keys.batch(batch_id), "input_file_id")
        if not self.settings.keep_files:
            pipe.zadd(keys.file_cleanup, {batch_id: time.time() + self.settings.lease_seconds})
        recorded = pipe.execute()[1 if file_id is not None else 0]
        if file_id is None:
            return True
        return recorded is not None and text(recorded) == file_id

    def due_cleanups(self, tag: str, now: float, limit: int) -> list[str]:
        """Batches of the partition whose files are due to be looked at."""
        due = self.redis.zrangebyscore(self.keys_of(tag).file_cleanup, "-inf", now, 0, limit)
        return [text(b) for b in due]

    def defer_cleanup(self, batch_id: str, when: float) -> None:
        keys = self.store.keys_of_batch(batch_id)
        self.redis.zadd(keys.file_cleanup, {batch_id: when}, xx=True)

    def end_cleanup(self, batch_id: str) -> None:
        self.redis.zrem(self.store.keys_of_batch(batch_id).file_cleanup, batch_id)

    def awaiting_cleanup(self) -> int:
        """Batches whose files are still at the provider, over every partition."""
        pipe = self.redis.pipeline(transaction=False)
        for partition in self.store.partitions.all():
            pipe.zcard(self.keys_of(partition.tag).file_cleanup)
        return sum(int(n) for n in pipe.execute())
