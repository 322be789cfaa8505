"""A 30 MB file goes up and comes back byte for byte while the gateway's memory stays flat:
its peak RSS (VmHWM, from /proc) grows by less than the file's size."""

from __future__ import annotations

import hashlib
import os

from redis import Redis

from gateway.testing import running_gateway
from tests.gateway.conftest import ACME_KEY, gateway_env

FILE_BYTES = 30 * 1000 * 1000
MAX_PEAK_GROWTH_MIB = 40


def big_jsonl(size: int) -> bytes:
    """About ``size`` bytes of distinct request lines (no two chunks alike)."""
    lines = []
    total = 0
    index = 0
    while total < size:
        filler = os.urandom(200).hex()
        line = (
            f'{{"custom_id": "r-{index}", "method": "POST", "url": "/v1/chat/completions", '
            f'"body": {{"model": "gpt-4o-mini", "messages": [{{"role": "user", '
            f'"content": "{filler}"}}]}}}}\n'
        ).encode()
        lines.append(line)
        total += len(line)
        index += 1
    return b"".join(lines)


def test_a_30_mb_round_trip_in_flat_memory(redis_url: str, redis: Redis) -> None:
    data = big_jsonl(FILE_BYTES)
    expected = hashlib.sha256(data).hexdigest()
    with running_gateway(gateway_env(redis_url)) as gateway:
        client = gateway.client(ACME_KEY, max_retries=0)
        client.files.list()  # every route's code is loaded before the baseline
        before = gateway.peak_rss_mib()

        created = client.files.create(file=("big.jsonl", data), purpose="batch")
        after_upload = gateway.peak_rss_mib()
        received = hashlib.sha256()
        size = 0
        with client.files.with_streaming_response.content(created.id) as response:
            for piece in response.iter_bytes():
                received.update(piece)
                size += len(piece)
        after_download = gateway.peak_rss_mib()

    print(
        f"\n{len(data) / 1e6:.1f} MB round trip: gateway peak RSS {before:.1f} MiB before, "
        f"{after_upload:.1f} after the upload, {after_download:.1f} after the download"
    )
    assert created.bytes == size == len(data)
    assert received.hexdigest() == expected
    assert redis.llen(f"br:gw:file:{created.id}:chunks") == -(-len(data) // (1024 * 1024))
    assert after_download - before < MAX_PEAK_GROWTH_MIB
