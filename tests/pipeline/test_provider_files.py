"""Nothing stays behind at the provider: after completed, expired, failed, cancelled and
crash-interrupted batches, the Batch API holds no file of ours; a deletion that fails is
retried later and never holds up a delivery."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis import Redis

from producers import Producer
from producers.settings import Settings
from tests.support.accounting import ledger
from tests.support.cli import cli
from tests.support.cluster import Cluster
from tests.support.inspect import all_batches, finished, provider_reached
from tests.support.items import items, receiver
from tests.support.waiting import wait_for
from worker.store import Store

SMALL_BATCHES = {"BATCHRELAY_MAX_REQUESTS_PER_BATCH": "100"}


def remote_files(emulator: Any) -> list[str]:
    return [f"{f.filename} ({f.purpose})" for f in emulator.client().files.list()]


def run(producer: Producer, prefix: str, count: int = 100) -> list[str]:
    batch = items(count, prefix)
    producer.submit_many(batch)
    return [i["id"] for i in batch]


@pytest.mark.slow
def test_no_file_stays_after_completed_expired_failed_and_cancelled_batches(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings, emulator: Any
) -> None:
    store = Store(redis, settings)
    receiver(cluster)
    cluster.worker(extra_env=SMALL_BATCHES)
    cluster.beat()
    ids = run(producer, "done", 300)
    wait_for(lambda: finished(producer, ids), 60, "three plain batches")

    # One fault at a time, each phase finished before the next: a fault sticks to the
    # batches created while it is set.
    for fault, status in (
        ({"expire_fraction": 0.5}, "expired"),
        ({"fault": "token_limit_exceeded"}, "failed"),
        ({"stuck": "in_progress"}, "in_progress"),
    ):
        emulator.set_faults(**fault)
        phase = run(producer, status)
        wait_for(lambda s=status: provider_reached(store, s), 60, f"a batch {status}")  # type: ignore[misc]
        emulator.reset()
        if status == "in_progress":
            for stuck in [
                b for b in all_batches(store) if b.get("provider_status") == "in_progress"
            ]:
                emulator.client().batches.cancel(stuck.get("provider_id"))
            wait_for(lambda: provider_reached(store, "cancelled"), 60, "a cancelled batch")
        wait_for(lambda p=phase: finished(producer, p), 60, f"the {status} phase's items")  # type: ignore[misc]
        ids += phase
    ledger(producer, store, redis, ids, retries_expected=True).assert_nothing_lost()
    assert len(all_batches(store)) >= 7
    wait_for(lambda: remote_files(emulator) == [], 60, "no file left at the provider")
    assert store.files.awaiting_cleanup() == 0


@pytest.mark.slow
def test_failed_deletions_are_retried_and_orphan_uploads_swept(
    cluster: Cluster,
    producer: Producer,
    redis: Redis,
    settings: Settings,
    emulator: Any,
    tmp_path: Path,
) -> None:
    """Deleting answers 500 while the batches finish: every item is delivered all the same,
    and the files go once deleting works again. A worker killed between uploading a file and
    recording it leaves an orphan upload, which the sweep finds."""
    store = Store(redis, settings)
    emulator.set_faults(http_500_rate=1.0, routes=["DELETE /v1/files/*"])
    marker = tmp_path / "upload.fired"
    env = {**SMALL_BATCHES, "BATCHRELAY_OPENAI_MAX_RETRIES": "0"}
    victim = cluster.worker(
        "victim", extra_env={**env, "BATCHRELAY_FAILPOINT": f"submit.after_upload:{marker}"}
    )
    cluster.beat()
    ids = run(producer, "k", 300)
    wait_for(lambda: victim.poll() is not None, 60, "the worker killed after its upload")
    assert victim.returncode == -signal.SIGKILL
    cluster.worker("rescuer", extra_env=env)
    wait_for(lambda: finished(producer, ids), 90, "every item delivered though deletes fail")
    assert store.files.awaiting_cleanup() >= 3
    held = remote_files(emulator)
    assert len(held) >= 7, held  # three batches' inputs and outputs, and the orphan
    status = orjson.loads(cli(cluster.env, "status", "--json").stdout)["provider_files"]
    openai = status["providers"]["openai"]
    assert openai["files"] == len(held) and openai["bytes"] > 0, status
    assert status["awaiting_cleanup"] >= 3
    emulator.set_faults(http_500_rate=0.0)
    wait_for(lambda: remote_files(emulator) == [], 60, "every file deleted, the orphan too")
    assert store.files.awaiting_cleanup() == 0
    status = orjson.loads(cli(cluster.env, "status", "--json").stdout)["provider_files"]
    assert status == {"providers": {"openai": {"files": 0, "bytes": 0}}, "awaiting_cleanup": 0}


def test_keep_files_keeps_every_file(
    cluster: Cluster, producer: Producer, redis: Redis, settings: Settings, emulator: Any
) -> None:
    cluster.worker(extra_env={"BATCHRELAY_KEEP_FILES": "1"})
    cluster.beat()
    ids = run(producer, "kept", 10)
    wait_for(lambda: finished(producer, ids), 60, "the items delivered")
    time.sleep(3)  # three housekeeping intervals
    assert sorted(f.purpose for f in emulator.client().files.list()) == ["batch", "batch_output"]
    assert Store(redis, settings).files.awaiting_cleanup() == 0
