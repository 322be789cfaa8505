"""The gateway as a Batch API: a 50,000-line file's upload and create, and its output's
download, each against the emulator doing the same alone, through the same openai SDK.

- intake: subject = upload to the gateway + create (what a client waits for; the batch is then
  `validating`, as OpenAI's is); baseline = the same upload + create at the emulator. How long
  the gateway then takes to check and enqueue every line (until `in_progress`) is reported
  beside it.
- download: subject = streaming the gateway batch's output file (generated from the results
  in Redis); baseline = streaming the emulator's output file of the batch that ran those lines.

Runs alternate (baseline, subject) and the best of each counts. The intake runs happen with
no worker running; then workers and a beat carry the gateway batches through the emulator
(BATCHRELAY_KEEP_FILES: the emulator keeps every output file, the baseline's to download)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import openai

from bench import items
from bench.endtoend import EMULATOR_TIMING, worker_env, write_inputs
from bench.processes import running_workers
from bench.redis_target import RedisTarget
from bench.result import Result, Timings, throughput_result
from emulator.testing import running_emulator
from gateway.testing import running_gateway

KEY = "sk-bench-gateway"
TERMINAL = ("completed", "failed", "expired", "cancelled")
TARGET = 0.5


def upload_and_create(client: openai.OpenAI, path: Path) -> Any:
    with path.open("rb") as handle:
        file_id = client.files.create(file=(path.name, handle), purpose="batch").id
    return client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )


def wait_status(
    client: openai.OpenAI, batch_id: str, wanted: tuple[str, ...], timeout: float
) -> Any:
    deadline = time.perf_counter() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in wanted:
            return batch
        if time.perf_counter() > deadline:
            raise RuntimeError(f"batch {batch_id} still {batch.status} after {timeout:.0f}s")
        time.sleep(0.02)


def download(client: openai.OpenAI, file_id: str) -> tuple[float, int]:
    """Seconds to stream a file through the SDK, and its line count."""
    start = time.perf_counter()
    lines = 0
    with client.files.with_streaming_response.content(file_id) as response:
        for chunk in response.iter_bytes(1 << 20):
            lines += chunk.count(b"\n")
    return time.perf_counter() - start, lines


def run_gateway(target: RedisTarget, count: int, repeats: int) -> list[Result]:
    with (
        tempfile.TemporaryDirectory(prefix="batchrelay-bench-gateway-") as scratch,
        running_emulator(log_level="warning", **EMULATOR_TIMING) as emulator,
    ):
        directory = Path(scratch)
        [path] = write_inputs(directory, count, count)
        env = worker_env(target, emulator, directory / "spool", count)
        env.update(
            {"BATCHRELAY_KEEP_FILES": "1", "BATCHRELAY_GATEWAY_KEYS": json.dumps({"bench": KEY})}
        )
        upstream = emulator.client(timeout=600)
        intake = Timings(count), Timings(count)  # (baseline, subject)
        enqueued: list[float] = []
        gateway_batches = []
        with running_gateway(env) as gateway:
            client = gateway.client(KEY, timeout=600)
            client.files.list()  # every route's code loaded before the first timed run
            for _ in range(repeats):
                start = time.perf_counter()
                upload_and_create(upstream, path)
                intake[0].seconds.append(time.perf_counter() - start)
                start = time.perf_counter()
                created = upload_and_create(client, path)
                intake[1].seconds.append(time.perf_counter() - start)
                wait_status(client, created.id, ("in_progress", *TERMINAL), 600)
                enqueued.append(time.perf_counter() - start)
                gateway_batches.append(created.id)
            with running_workers(env, directory, 2):
                done = [wait_status(client, b, TERMINAL, 900) for b in gateway_batches]
            assert all(b.status == "completed" for b in done), [b.status for b in done]
            outputs = [
                b.output_file_id for b in upstream.batches.list(limit=100) if b.output_file_id
            ]
            assert outputs, "no output file kept at the emulator"
            fetch = Timings(count), Timings(count)
            for run in range(repeats):
                seconds, lines = download(upstream, outputs[run % len(outputs)])
                assert lines == count, f"emulator output: {lines} lines"
                fetch[0].seconds.append(seconds)
                output_file = done[run].output_file_id
                assert output_file is not None
                seconds, lines = download(client, output_file)
                assert lines == count, f"gateway output: {lines} lines"
                fetch[1].seconds.append(seconds)
            peak_rss_mib = round(gateway.peak_rss_mib(), 1)
    return [
        throughput_result(
            "gateway_intake",
            intake[1],
            intake[0],
            TARGET,
            "lines/s uploaded and created at the gateway / at the emulator",
            until_enqueued_s=[round(s, 3) for s in enqueued],
            enqueued_lines_per_s=round(count / min(enqueued), 1),
        ),
        throughput_result(
            "gateway_download",
            fetch[1],
            fetch[0],
            TARGET,
            "output lines/s streamed from the gateway / from the emulator",
            gateway_peak_rss_mib=peak_rss_mib,
        ),
    ]


UPLOAD_GROWTH_LIMIT_MIB = 100.0


def run_gateway_memory(target: RedisTarget, size_bytes: int) -> Result:
    """The gateway's peak RSS over its RSS before, for an upload of ``size_bytes`` (1 GB at
    full size) and a download of the same file: both must stay flat."""
    with tempfile.TemporaryDirectory(prefix="batchrelay-bench-gateway-memory-") as scratch:
        path = Path(scratch) / "big.jsonl"
        lines = 0
        with path.open("wb") as handle:
            while handle.tell() < size_bytes:
                handle.write(items.request_line(lines) + b"\n")
                lines += 1
        env = {
            "BATCHRELAY_REDIS_URL": target.url,
            "BATCHRELAY_GATEWAY_KEYS": json.dumps({"bench": KEY}),
            "BATCHRELAY_GATEWAY_MAX_FILE_BYTES": str(2 * size_bytes),
        }
        with running_gateway(env) as gateway:
            client = gateway.client(KEY, timeout=1200, max_retries=0)
            client.files.list()
            before = gateway.peak_rss_mib()
            start = time.perf_counter()
            with path.open("rb") as handle:
                file_id = client.files.create(file=(path.name, handle), purpose="batch").id
            upload_s = time.perf_counter() - start
            after_upload = gateway.peak_rss_mib()
            download_s, downloaded = download(client, file_id)
            after_download = gateway.peak_rss_mib()
    assert downloaded == lines, f"{downloaded} of {lines} lines came back"
    growth = after_download - before
    absolute = {
        "file_bytes": size_bytes,
        "lines": lines,
        "rss_before_mib": round(before, 1),
        "peak_after_upload_mib": round(after_upload, 1),
        "peak_after_download_mib": round(after_download, 1),
        "upload_s": round(upload_s, 2),
        "download_s": round(download_s, 2),
    }
    return Result(
        "gateway_memory",
        growth,
        "MiB of gateway peak RSS growth over an upload and a download of the file",
        None,
        f"growth <= {UPLOAD_GROWTH_LIMIT_MIB:.0f} MiB",
        growth <= UPLOAD_GROWTH_LIMIT_MIB,
        absolute,
    )
