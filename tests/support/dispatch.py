"""Plain-code lifecycle helpers: a Dispatcher without Celery, and a batch finished at OpenAI."""

from __future__ import annotations

import tempfile
from pathlib import Path

from producers import Callback, Producer
from producers.keys import partition_tag
from worker.lifecycle.packing import pack
from worker.store import Batch, Store

TAG = partition_tag("/v1/chat/completions", "gpt-4o-mini")


class RecordingDispatcher:
    """The Dispatcher protocol without Celery: remembers what would have been sent."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    def pack(self, _tag: str) -> None: ...

    def submit(self, batch_id: str) -> None: ...

    def collect(self, batch_id: str) -> None: ...

    def deliver(self, _tag: str, item_ids: list[str]) -> None:
        self.delivered += item_ids


def submitted_batch(
    producer: Producer, store: Store, count: int, state: str = "completed", callbacks: bool = True
) -> Batch:
    """A batch of ``count`` items as OpenAI would have finished it; odd items carry a Celery
    callback when ``callbacks``."""
    producer.submit_many(
        [
            {"id": f"o{n}", "body": {"model": "gpt-4o-mini", "messages": []}}
            | ({"callback": Callback.celery("svc.done")} if callbacks and n % 2 else {})
            for n in range(count)
        ]
    )
    with tempfile.TemporaryDirectory() as scratch:  # the file itself is not needed
        packed = pack(store, store.settings, TAG, Path(scratch))
    assert packed is not None
    bid = packed.batch_id
    assert store.batches.transition(bid, "packed", "uploading")
    assert store.batches.transition(
        bid, "uploading", "submitted", live="add", provider_id="batch_fuzz"
    )
    store.batches.mark_submitted(bid)
    assert store.batches.transition(bid, "submitted", state, lease=True, live="rem")
    return store.batches.get(bid)
