"""OpenAI's batch webhooks at the gateway: the emulator signs them as OpenAI does, the gateway
verifies them with the openai SDK and has a worker poll that batch at once. The beat's own poll
runs every 10 minutes here, so only the webhook can bring the results back in time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis import Redis

from emulator.testing import running_emulator
from emulator.webhooks import secret_key, signed_headers
from gateway.testing import RunningGateway, free_port, running_gateway
from producers import Producer
from producers.settings import Settings
from tests.gateway.conftest import gateway_env
from tests.support.cluster import Cluster
from tests.support.items import chat

pytestmark = pytest.mark.slow

SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtZ2F0ZXdheS13ZWJob29rcw=="
POLL_RARELY = "600"


@pytest.fixture
def hooked_stack(
    redis_url: str, worker_env: dict[str, str], tmp_path: Path
) -> Iterator[RunningGateway]:
    """A gateway on a port chosen first, an emulator that sends its webhooks there, and a
    worker and beat that would poll only every 10 minutes."""
    port = free_port()
    hook = f"http://127.0.0.1:{port}/webhooks/openai"
    with running_emulator(
        batch_seconds=0.5,
        validating_seconds=0.1,
        finalizing_seconds=0.1,
        webhook_url=hook,
        webhook_secret=SECRET,
    ) as emulator:
        env = {
            **worker_env,
            "OPENAI_BASE_URL": emulator.base_url,
            "BATCHRELAY_POLL_INTERVAL": POLL_RARELY,
        }
        cluster = Cluster(env, tmp_path)
        try:
            cluster.worker()
            cluster.beat()
            gateway_settings = {**env, **gateway_env(redis_url), "OPENAI_WEBHOOK_SECRET": SECRET}
            with running_gateway(gateway_settings, port=port) as gateway:
                yield gateway
        finally:
            cluster.stop()


def event(batch_id: str, kind: str = "batch.completed") -> bytes:
    return orjson.dumps(
        {
            "id": "evt_test",
            "object": "event",
            "type": kind,
            "created_at": int(time.time()),
            "data": {"id": batch_id},
        }
    )


def post(gateway: RunningGateway, body: bytes, secret: str = SECRET, **extra: str) -> Any:
    headers = signed_headers(secret_key(secret), "wh_test", body, int(time.time()))
    headers.update(extra)
    return httpx.post(f"{gateway.url}/webhooks/openai", content=body, headers=headers)


def test_a_webhook_brings_the_results_before_any_poll(
    hooked_stack: RunningGateway, redis: Redis, redis_url: str
) -> None:
    producer = Producer(redis, Settings(redis_url=redis_url))
    ids = [f"hooked-{i}" for i in range(20)]
    producer.submit_many(chat(item_id) for item_id in ids)
    started = time.monotonic()
    results = [producer.wait(item_id, timeout=60) for item_id in ids]
    elapsed = time.monotonic() - started

    assert [r["status"] for r in results] == ["succeeded"] * 20
    assert elapsed < 60  # the beat's poll would come after 600 s
    log = hooked_stack.log_path.read_text()
    assert "polled now" in log


def test_a_bad_signature_is_a_400_and_polls_nothing(
    hooked_stack: RunningGateway, redis: Redis
) -> None:
    # batch_x is ours: a verified event for it would have a worker poll it.
    redis.set("br:provider-batch:openai:batch_x", "brb-ours")
    other = "whsec_" + "b3RoZXItc2VjcmV0LW5vdC10aGUtZ2F0ZXdheXM="
    answer = post(hooked_stack, event("batch_x"), secret=other)
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    unsigned = httpx.post(f"{hooked_stack.url}/webhooks/openai", content=event("batch_x"))
    assert unsigned.status_code == 400
    huge = httpx.post(f"{hooked_stack.url}/webhooks/openai", content=b"x" * 100_000)
    assert huge.status_code == 413
    assert "polled now" not in hooked_stack.log_path.read_text()


def test_events_for_batches_not_ours_are_acknowledged_and_ignored(
    hooked_stack: RunningGateway,
) -> None:
    stranger = post(hooked_stack, event("batch_someone_elses"))
    assert stranger.status_code == 200
    assert stranger.json() == {"received": True, "action": "ignored"}
    other_kind = post(hooked_stack, event("resp_1", kind="response.completed"))
    assert other_kind.status_code == 200
    assert other_kind.json()["action"] == "ignored"


def test_no_secret_no_receiver(gateway: RunningGateway) -> None:
    answer = post(gateway, event("batch_x"))
    assert answer.status_code == 404
    unknown = httpx.post(f"{gateway.url}/webhooks/nobody", content=b"{}")
    assert unknown.status_code == 404
