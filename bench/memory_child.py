"""The process whose memory bench.memory measures: it collects one batch through the real path.

``python -m bench.memory_child CONFIG_JSON`` runs worker.lifecycle.collecting.collect, which
streams the output file from the emulator (OpenAIBatches.lines over /v1/files/{id}/content), and
prints one JSON line: RSS before, peak RSS during the collection, seconds and counts.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from openai import OpenAI
from redis import Redis

from bench.common import NAMESPACE, CountingDispatcher
from producers.settings import Settings
from worker.lifecycle.collecting import collect
from worker.providers.openai import OpenAIBatches
from worker.store import Store

MIB = 1024 * 1024
SAMPLE_SECONDS = 0.002


class PeakSampler(threading.Thread):
    """Samples this process's RSS until stopped and keeps the largest."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.samples += 1
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        return self.peak


def high_water_mark() -> int | None:
    """The kernel's peak RSS of this process (VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def reset_high_water_mark() -> bool:
    """Restart VmHWM from the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(config: dict[str, Any]) -> dict[str, Any]:
    settings = Settings.from_dsn(config["redis_url"], namespace=NAMESPACE)
    store = Store(Redis.from_url(settings.redis_url), settings)
    client = OpenAI(base_url=config["base_url"], api_key=config["api_key"], max_retries=0)
    api = OpenAIBatches(settings, client=client)
    dispatcher = CountingDispatcher()
    # Warm up everything loaded lazily, so "before" is the worker as it waits for work.
    client.files.retrieve(config["file_id"])
    store.batches.get(config["batch_id"])
    gc.collect()
    before = psutil.Process().memory_info().rss
    hwm_reset = reset_high_water_mark()
    sampler = PeakSampler()
    sampler.start()
    start = time.perf_counter()
    report = collect(store, api, dispatcher, settings, config["batch_id"])
    seconds = time.perf_counter() - start
    peak = sampler.stop()
    hwm = high_water_mark() if hwm_reset else None
    assert report is not None
    return {
        "rss_before_mb": before / MIB,
        "rss_peak_sampled_mb": peak / MIB,
        "rss_peak_hwm_mb": None if hwm is None else hwm / MIB,
        "samples": sampler.samples,
        "seconds": seconds,
        "succeeded": report.succeeded,
        "bad_lines": report.bad_lines,
        "delivered_ids": dispatcher.delivered_ids,
    }


def main(argv: list[str]) -> int:
    print(json.dumps(measure(json.loads(argv[0]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
