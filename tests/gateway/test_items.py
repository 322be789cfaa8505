"""`/v1/items` over HTTP: single items and NDJSON, named errors, Idempotency-Key, tenants,
the per-tenant limit, and the long poll with a real worker, beat and emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from redis import Redis

from gateway.testing import RunningGateway, running_gateway
from tests.gateway.conftest import ACME_KEY, GLOBEX_KEY, gateway_env, jsonl
from tests.support.cluster import Cluster
from tests.support.waiting import wait_for
from tests.support.webhook_server import webhook_server


def item(item_id: str | None = None, text: str = "hello") -> dict[str, Any]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    return {"body": body, **({"id": item_id} if item_id else {})}


def post(gateway: RunningGateway, key: str, payload: Any, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/items",
        content=orjson.dumps(payload),
        headers={"authorization": f"Bearer {key}", "content-type": "application/json", **headers},
    )


def get(gateway: RunningGateway, key: str, item_id: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{gateway.url}/v1/items/{item_id}",
        params=params,
        headers={"authorization": f"Bearer {key}"},
        timeout=90,
    )


def test_an_item_is_queued_and_shows_its_state(gateway: RunningGateway) -> None:
    answer = post(gateway, ACME_KEY, item("one"))
    assert answer.status_code == 200
    assert answer.json() == {"id": "one", "object": "item"}
    state = get(gateway, ACME_KEY, "one").json()
    assert (state["id"], state["state"], state["result"]) == ("one", "queued", None)
    assert list(state["timestamps"]) == ["queued"]


def test_a_bad_item_is_400_naming_the_field_and_stores_nothing(
    gateway: RunningGateway, redis: Redis
) -> None:
    answer = post(gateway, ACME_KEY, {"id": "bad", "body": {"messages": []}})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_item" and error["param"] == "body.model"
    assert "bad" in error["message"]
    not_json = httpx.post(
        f"{gateway.url}/v1/items",
        content=b"{nope",
        headers={"authorization": f"Bearer {ACME_KEY}"},
    )
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    tenant = post(gateway, ACME_KEY, {**item("sneaky"), "tenant": "globex"})
    assert tenant.status_code == 400 and tenant.json()["error"]["param"] == "tenant"
    assert not redis.keys("br:{*}:item:*")


def test_an_idempotency_key_stores_a_retried_post_once(gateway: RunningGateway) -> None:
    first = post(gateway, ACME_KEY, item(), **{"idempotency-key": "order-77"})
    again = post(gateway, ACME_KEY, item(), **{"idempotency-key": "order-77"})
    assert first.json()["id"] == again.json()["id"] == "order-77"
    assert get(gateway, ACME_KEY, "order-77").json()["state"] == "queued"


def test_ndjson_takes_many_and_names_the_bad_lines(gateway: RunningGateway) -> None:
    lines = [orjson.dumps(item(f"n-{i}")) for i in range(5)]
    lines.insert(2, b"not json")
    lines.append(orjson.dumps(item("n-0")))  # a duplicate
    answer = httpx.post(
        f"{gateway.url}/v1/items",
        content=b"\n".join(lines) + b"\n",
        headers={"authorization": f"Bearer {ACME_KEY}", "content-type": "application/x-ndjson"},
    )
    assert answer.status_code == 200
    report = answer.json()
    assert report["accepted"] == [f"n-{i}" for i in range(5)]
    assert report["duplicates"] == ["n-0"]
    assert [r["index"] for r in report["rejected"]] == [2]
    assert report["rejected"][0]["field"] == "item"
    assert all(get(gateway, ACME_KEY, f"n-{i}").status_code == 200 for i in range(5))


def test_another_tenants_item_is_a_plain_404(gateway: RunningGateway) -> None:
    post(gateway, ACME_KEY, item("mine"))
    foreign = get(gateway, GLOBEX_KEY, "mine")
    missing = get(gateway, GLOBEX_KEY, "nobody-has-this")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["message"].replace("mine", "X") == missing.json()["error"][
        "message"
    ].replace("nobody-has-this", "X")
    no_key = httpx.get(f"{gateway.url}/v1/items/mine")
    assert no_key.status_code == 401


@pytest.fixture
def limited(redis_url: str) -> Iterator[RunningGateway]:
    env = gateway_env(redis_url, gateway_tenant_max_queued="3")
    with running_gateway(env) as running:
        yield running


def test_a_tenant_over_its_limit_gets_429_with_retry_after(limited: RunningGateway) -> None:
    for n in range(3):
        assert post(limited, ACME_KEY, item(f"q-{n}")).status_code == 200
    over = post(limited, ACME_KEY, item("q-3"))
    assert over.status_code == 429
    assert over.headers["retry-after"] == "60"
    assert over.json()["error"]["code"] == "tenant_queue_full"
    assert post(limited, GLOBEX_KEY, item("g-0")).status_code == 200  # its own limit
    client = limited.client(ACME_KEY, max_retries=0)
    uploaded = client.files.create(file=("in.jsonl", jsonl(2)), purpose="batch")
    with pytest.raises(openai.RateLimitError):
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )


@pytest.mark.slow
def test_wait_long_polls_until_the_result_and_the_webhook_comes(
    cluster: Cluster, worker_env: dict[str, str], redis_url: str
) -> None:
    cluster.worker()
    cluster.beat()
    with (
        webhook_server() as (url, received),
        running_gateway({**worker_env, **gateway_env(redis_url)}) as gateway,
    ):
        hooked = {**item("polled", "Great product"), "callback": {"url": url}}
        assert post(gateway, ACME_KEY, hooked).status_code == 200
        answer = get(gateway, ACME_KEY, "polled", wait=60)
        assert answer.status_code == 200
        found = answer.json()
        assert found["result"]["status"] == "succeeded"
        assert found["result"]["response"]["body"]["object"] == "chat.completion"
        assert found["state"] in ("succeeded", "delivered")
        assert get(gateway, ACME_KEY, "polled", wait=-1).status_code == 400
        wait_for(lambda: received.bodies, 30, "the item's webhook")
    headers, body = received.bodies[0]
    assert headers["idempotency-key"] == "polled:1"
    assert orjson.loads(body)["custom_id"] == "polled"


def test_the_openapi_document_lists_every_route(gateway: RunningGateway) -> None:
    document = httpx.get(f"{gateway.url}/openapi.json").json()
    paths = set(document["paths"])
    assert {"/v1/items", "/v1/items/{item_id}", "/v1/files", "/v1/batches"} <= paths
    assert "/webhooks/{provider}" not in paths and "/healthz" not in paths
