"""The gateway's requests, counted in Redis by every replica, as the exporter reports them:
by method, route template (never a raw id) and status."""

from __future__ import annotations

import httpx
import openai
import pytest
from redis import Redis

from gateway.testing import RunningGateway
from producers.replies import text
from producers.settings import Settings
from tests.support.waiting import wait_for
from worker.metrics.exporter import registry_for
from worker.store import Store


def test_requests_are_counted_by_route_and_status(
    gateway: RunningGateway, acme: openai.OpenAI, redis: Redis, settings: Settings
) -> None:
    acme.files.list()
    acme.files.list()
    with pytest.raises(openai.NotFoundError):
        acme.files.retrieve("file-nobody")
    httpx.get(f"{gateway.base_url}/files")  # no key: 401
    httpx.get(f"{gateway.url}/healthz")  # probes are not counted
    httpx.request("BREW", f"{gateway.base_url}/files")  # any method: counted as OTHER

    registry = registry_for(Store(redis, settings))

    def sample(name: str, route: str, status: str) -> float | None:
        labels = {"method": "GET", "route": route, "status": status}
        return registry.get_sample_value(name, labels)

    wait_for(lambda: sample("batchrelay_gateway_requests_total", "/v1/files", "401"), 5, "counted")
    assert sample("batchrelay_gateway_requests_total", "/v1/files", "200") == 2
    assert sample("batchrelay_gateway_requests_total", "/v1/files/{file_id}", "404") == 1
    assert sample("batchrelay_gateway_requests_total", "/v1/files", "401") == 1
    assert sample("batchrelay_gateway_requests_total", "/healthz", "200") is None
    other = {"method": "OTHER", "route": "/v1/files", "status": "405"}
    assert registry.get_sample_value("batchrelay_gateway_requests_total", other) == 1
    seconds = sample("batchrelay_gateway_request_seconds_total", "/v1/files", "200")
    assert seconds is not None and 0 < seconds < 10
    fields = {text(f) for f in redis.hkeys("br:gw:requests")}
    assert not any("file-nobody" in f for f in fields)
