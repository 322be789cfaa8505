"""The gateway at scale and through crashes, with real processes: one gateway batch larger
than the provider takes, with lines failing upstream, and one that lives through a SIGKILLed
worker and a SIGKILLed gateway. Each ends `completed` with every custom_id exactly once."""

from __future__ import annotations

import io
import time
from collections import Counter
from typing import Any

import openai
import orjson
import pytest

from gateway.testing import running_gateway
from tests.gateway.conftest import ACME_KEY, gateway_env, jsonl
from tests.support.cluster import Cluster
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow
ENDED = ("completed", "failed", "expired", "cancelled")


def run_batch(client: openai.OpenAI, data: bytes) -> str:
    uploaded = client.files.create(file=("input.jsonl", io.BytesIO(data)), purpose="batch")
    return client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    ).id


def custom_ids(client: openai.OpenAI, file_id: str | None) -> Counter[str]:
    """Every custom_id of an output file, counted, read as a stream."""
    found: Counter[str] = Counter()
    if file_id is None:
        return found
    rest = b""
    with client.files.with_streaming_response.content(file_id) as response:
        for piece in response.iter_bytes():
            lines = (rest + piece).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line:
                    record = orjson.loads(line)
                    assert record["response"]["status_code"] == 200 and record["error"] is None
                    found[record["custom_id"]] += 1
    assert not rest
    return found


def ended(client: openai.OpenAI, batch_id: str, timeout: float) -> Any:
    wait_for(lambda: client.batches.retrieve(batch_id).status in ENDED, timeout, "batch ended")
    return client.batches.retrieve(batch_id)


def test_120000_lines_through_50000_line_batches_with_failing_lines(
    cluster: Cluster, worker_env: dict[str, str], emulator: Any
) -> None:
    lines = 120_000
    emulator.set_faults(line_500_rate=0.1)
    # 10% of lines fail each time: ten tries leave about 1e-10 of them dead.
    extra = {"BATCHRELAY_MAX_ATTEMPTS": "10", "BATCHRELAY_FLUSH_AFTER": "2"}
    cluster.worker(extra_env=extra)
    cluster.beat()
    with running_gateway(
        {**worker_env, **extra, **gateway_env(worker_env["BATCHRELAY_REDIS_URL"])}
    ) as gateway:
        client = gateway.client(ACME_KEY)
        client.files.list()
        rss_before = gateway.peak_rss_mib()
        started = time.monotonic()
        batch_id = run_batch(client, jsonl(lines))
        done = ended(client, batch_id, 600)
        elapsed = time.monotonic() - started
        counts = custom_ids(client, done.output_file_id)
        rss_growth = gateway.peak_rss_mib() - rss_before
    upstream = emulator.client().batches.list(limit=100).data
    sizes = sorted(b.request_counts.total for b in upstream if b.request_counts)
    print(
        f"\n{lines} lines in {elapsed:.0f} s, upstream batch sizes {sizes}, "
        f"gateway peak RSS +{rss_growth:.1f} MiB"
    )
    # Intake, the output file's writing and its download all stream: the gateway never
    # holds the 28 MB input or the output whole.
    assert rss_growth < 60
    assert done.status == "completed"
    assert done.request_counts.total == done.request_counts.completed == lines
    assert done.error_file_id is None
    assert len(counts) == lines and set(counts.values()) == {1}
    assert max(sizes) <= 50_000 and sum(sizes) > lines  # split, and failed lines were retried


def test_a_killed_worker_and_a_killed_gateway_lose_and_repeat_nothing(
    cluster: Cluster, worker_env: dict[str, str], emulator: Any
) -> None:
    lines = 3_000
    extra = {"BATCHRELAY_MAX_REQUESTS_PER_BATCH": "200"}
    cluster.supervise()
    cluster.worker("w1", extra_env=extra)
    cluster.worker("w2", extra_env=extra)
    cluster.beat()
    env = {**worker_env, **extra, **gateway_env(worker_env["BATCHRELAY_REDIS_URL"])}
    with running_gateway(env) as gateway:
        client = gateway.client(ACME_KEY, max_retries=8)
        batch_id = run_batch(client, jsonl(lines))
        upstream = emulator.client()
        wait_for(lambda: upstream.batches.list().data, 120, "a batch at the provider")
        counts_at_kill = client.batches.retrieve(batch_id).request_counts
        at_kill = counts_at_kill.completed if counts_at_kill else 0
        cluster.signal("w1")  # SIGKILL; the supervisor starts it again
        gateway.restart(kill=True)
        wait_for(lambda: cluster.restarts >= 1, 30, "w1 restarted")
        cluster.signal("w2")
        wait_for(lambda: cluster.restarts >= 2, 30, "w2 restarted")
        done = ended(client, batch_id, 300)
        counts = custom_ids(client, done.output_file_id)
    print(f"\n{at_kill} of {lines} lines were done at the first kill")
    assert at_kill < lines  # the kills came mid-run
    assert done.status == "completed"
    assert done.request_counts.completed == lines and done.request_counts.failed == 0
    assert counts == Counter({f"req-{i}": 1 for i in range(lines)})
