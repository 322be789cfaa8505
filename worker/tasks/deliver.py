"""batchrelay.deliver: fan a chunk of results out to their callbacks."""

from __future__ import annotations

from typing import Any

from worker.app import app
from worker.lifecycle.delivering import deliver
from worker.runtime import runtime


@app.task(name="batchrelay.deliver", ignore_result=True)
def deliver_results(tag: str, item_ids: list[str]) -> int:
    rt = runtime()
    with app.producer_or_acquire() as producer:

        def send_callback(task: str, queue: str, result: dict[str, Any], key: str) -> None:
            app.send_task(task, args=[result], queue=queue, task_id=key, producer=producer)

        report = deliver(rt.store, rt.settings, send_callback, rt.webhooks, tag, item_ids)
    return report.delivered
