"""Several providers at once with real processes: Celery workers and beat, the `batchrelay`
command, and the emulator over HTTP on both its OpenAI and its Anthropic side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from redis import Redis

from emulator.testing import running_emulator
from producers import Producer
from producers.settings import Settings
from tests.support.cli import cli
from tests.support.cluster import Cluster
from tests.support.inspect import all_batches, finished
from tests.support.items import chat
from tests.support.waiting import wait_for
from worker.store import Store

pytestmark = pytest.mark.slow
BUDGET = 1000  # tokens in flight for gpt-4o-mini at the provider "east"


def request_line(n: int) -> dict[str, Any]:
    """A line of a Batch API input file, every third one Anthropic's Messages."""
    if n % 3 == 0:
        return {
            "custom_id": f"task-{n}",
            "method": "POST",
            "url": "/v1/messages",
            "body": {
                "model": "claude-haiku-4-5",
                "max_tokens": 32,
                "messages": [{"role": "user", "content": f"q{n}"}],
            },
        }
    return {
        "custom_id": f"task-{n}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{n}"}]},
    }


def test_one_input_file_for_two_apis_comes_back_as_one_output_file(
    cluster: Cluster, worker_env: dict[str, str], emulator: Any, tmp_path: Path
) -> None:
    lines = [request_line(n) for n in range(30)]
    path = tmp_path / "batch_input.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    submitted = cli(worker_env, "submit", str(path))
    assert submitted.returncode == 0 and "accepted 30" in submitted.stdout, submitted.stderr
    cluster.worker()
    cluster.beat()
    out = tmp_path / "out.jsonl"
    results = cli(worker_env, "results", "--wait", "--timeout", "90", "--output", str(out))
    assert results.returncode == 0, results.stderr
    parsed = {p["custom_id"]: p for p in map(orjson.loads, out.read_bytes().splitlines())}
    assert sorted(parsed) == sorted(line["custom_id"] for line in lines)
    for n, line in enumerate(lines):
        body = parsed[line["custom_id"]]["response"]["body"]
        if n % 3 == 0:
            assert body["type"] == "message" and body["content"][0]["text"], body
        else:
            assert body["choices"][0]["message"]["content"], body
    status = orjson.loads(cli(worker_env, "status", "--json").stdout)
    assert sorted(p["provider"] for p in status["partitions"]) == ["anthropic", "openai"]
    # A lease after collection, the Anthropic batch is deleted there, as OpenAI's files are.
    anthropic = emulator.anthropic_client()
    wait_for(lambda: not list(anthropic.messages.batches.list()), 60, "the Anthropic batch deleted")
    wait_for(lambda: not emulator.client().files.list().data, 60, "the OpenAI files deleted")


def test_two_accounts_of_one_api_share_a_model(
    cluster: Cluster, redis: Redis, settings: Settings, emulator: Any
) -> None:
    with running_emulator(batch_seconds=0.5, validating_seconds=0.1) as west:
        accounts = {
            "providers": {
                "east": {
                    "kind": "openai",
                    "base_url": emulator.base_url,
                    "token_budgets": {"gpt-4o-mini": BUDGET},
                },
                "west": {"kind": "openai", "base_url": west.base_url, "api_key_env": "WEST_KEY"},
            },
            "routes": [{"models": ["*"], "providers": ["east", "west"]}],
        }
        env = {"BATCHRELAY_PROVIDERS": orjson.dumps(accounts).decode(), "WEST_KEY": "sk-west"}
        cluster.worker(extra_env=env)
        cluster.beat()
        configured = settings.model_copy(update={"providers": env["BATCHRELAY_PROVIDERS"]})
        producer = Producer(redis, configured)
        ids = [f"i{n:03d}" for n in range(200)]
        assert len(producer.submit_many([chat(i) for i in ids]).accepted) == 200
        wait_for(lambda: finished(producer, ids), 120, "every item delivered")
        east_batches = list(emulator.client().batches.list())
        west_batches = list(west.client().batches.list())
        assert east_batches and west_batches
        east_total = sum(b.request_counts.total for b in east_batches if b.request_counts)
        west_total = sum(b.request_counts.total for b in west_batches if b.request_counts)
        assert east_total + west_total == 200 and 50 < east_total < 150
        # East's budget holds a batch of about 40 items at a time; west has none.
        store = Store(redis, configured)
        east = [
            b
            for b in all_batches(store)
            if store.partitions.get(b.partition).provider == "east" and b.provider_id
        ]
        assert len(east) >= 2 and all(0 < b.number("tokens") <= BUDGET for b in east)
        status = orjson.loads(cli({**cluster.env, **env}, "status", "--json").stdout)
        assert set(status["provider_files"]["providers"]) == {"east", "west"}
