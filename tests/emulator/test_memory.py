"""Memory stays flat: a 50,000-line batch and a ~200 MB upload, each in a fresh emulator.

Peak RSS is the emulator process's VmHWM from /proc, so each test starts its own process.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from emulator.testing import running_emulator
from tests.emulator.helpers import upload, wait_for

pytestmark = pytest.mark.slow  # 200 MB and 50,000-line batches

MAX_PEAK_RSS_MB = 150
UPLOAD_BYTES = 200 * 1000 * 1000


def write_chat_requests(path: Path, count: int, padding: int = 0) -> Path:
    """Streams `count` request lines to `path`, each with about `padding` extra characters."""
    filler = ("lorem ipsum dolor sit amet " * (padding // 27 + 1))[:padding]
    with path.open("w") as out:
        for i in range(count):
            body = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"Request {i}: summarize. {filler}"}],
            }
            line = {"custom_id": f"r-{i}", "method": "POST", "url": "/v1/chat/completions"}
            out.write(json.dumps({**line, "body": body}) + "\n")
    return path


def test_50000_line_batch_grows_counts_and_completes_in_flat_memory(tmp_path: Path) -> None:
    path = write_chat_requests(tmp_path / "50k.jsonl", 50_000)
    with running_emulator(batch_seconds=4, validating_seconds=0.1, finalizing_seconds=0.1) as emu:
        client = emu.client()
        batch = client.batches.create(
            input_file_id=upload(client, path),
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
        progress: set[int] = set()
        deadline = time.monotonic() + 120
        while (current := client.batches.retrieve(batch.id)).status != "completed":
            assert current.status in ("validating", "in_progress", "finalizing"), current
            assert time.monotonic() < deadline
            if current.status == "in_progress" and current.request_counts:
                progress.add(current.request_counts.completed)
            time.sleep(0.1)

        assert current.request_counts is not None
        assert current.request_counts.completed == current.request_counts.total == 50_000
        assert len({p for p in progress if 0 < p < 50_000}) >= 3, sorted(progress)
        assert current.output_file_id is not None
        with client.files.with_streaming_response.content(current.output_file_id) as response:
            custom_ids = {json.loads(line)["custom_id"] for line in response.iter_lines()}
        assert len(custom_ids) == 50_000
        peak = emu.peak_rss_mb()

    print(f"\n50,000-line batch: emulator peak RSS {peak:.1f} MiB")
    assert peak < MAX_PEAK_RSS_MB


@pytest.mark.timeout(600)
def test_200_mb_upload_and_batch_in_flat_memory(tmp_path: Path) -> None:
    count = 46_000
    path = write_chat_requests(tmp_path / "big.jsonl", count, padding=UPLOAD_BYTES // count - 150)
    size = path.stat().st_size
    assert 190_000_000 < size < 200 * 1024 * 1024
    with running_emulator(batch_seconds=2, validating_seconds=0.1, finalizing_seconds=0.1) as emu:
        client = emu.client()
        file_id = upload(client, path)
        assert client.files.retrieve(file_id).bytes == size
        after_upload = emu.peak_rss_mb()

        downloaded = 0
        with client.files.with_streaming_response.content(file_id) as response:
            for chunk in response.iter_bytes():
                downloaded += len(chunk)
        assert downloaded == size

        batch = client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        done = wait_for(client, batch.id, timeout=300)
        assert done.status == "completed"
        assert done.request_counts is not None and done.request_counts.completed == count
        peak = emu.peak_rss_mb()

    print(
        f"\n{size / 1e6:.0f} MB upload: emulator peak RSS {after_upload:.1f} MiB after upload, "
        f"{peak:.1f} MiB after download and a {count}-line batch"
    )
    assert peak < MAX_PEAK_RSS_MB
