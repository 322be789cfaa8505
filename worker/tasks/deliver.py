"""batchrelay.deliver: fan a chunk of results out to their callbacks."""

from __future__ import annotations

from worker.app import app
from worker.lifecycle.delivering import deliver
from worker.runtime import runtime
from worker.tasks.dispatcher import send_callback


@app.task(name="batchrelay.deliver", ignore_result=True)
def deliver_results(ptag: str, item_ids: list[str]) -> int:
    rt = runtime()
    report = deliver(rt.store, rt.settings, send_callback, rt.webhooks, ptag, item_ids)
    return report.delivered
