"""Flower, as `batchrelay flower` starts it: basic auth, our worker and tasks, ids-only args."""

from __future__ import annotations

import httpx
from redis import Redis

from producers import Callback, Producer
from tests.ops.conftest import CLI, Services, wait_http
from tests.support.cluster import Cluster
from tests.support.inspect import finished, keyspace_dump
from tests.support.items import chat
from tests.support.waiting import wait_for
from worker.services import free_port

AUTH = ("ops", "flower-pass-123")
SECRET_TEXT = "zebra-quartz-7741 confidential prompt"
EXPECTED_TASKS = {"batchrelay.pack", "batchrelay.collect", "batchrelay.deliver"}
FAKE_KEY = "sk-test-RECOGNIZABLE-fake-key-0042"
FAKE_SECRET = "whsec-RECOGNIZABLE-secret-0042"


def test_flower_sees_workers_and_tasks_behind_basic_auth(
    cluster: Cluster,
    services: Services,
    producer: Producer,
    redis: Redis,
    worker_env: dict[str, str],
) -> None:
    port = free_port()
    env = {**worker_env, "BATCHRELAY_FLOWER_BASIC_AUTH": ":".join(AUTH)}
    flower = services.start("flower", [*CLI, "flower", "--port", str(port)], env)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthcheck", flower, "flower")
    cluster.env.update({"OPENAI_API_KEY": FAKE_KEY, "BATCHRELAY_WEBHOOK_SECRET": FAKE_SECRET})
    cluster.worker()
    cluster.beat()
    ids = [f"f{n}" for n in range(5)]
    # A Celery callback (on a queue nobody consumes) makes each result go through a deliver task.
    callback = Callback.celery("svc.on_result", queue="results")
    producer.submit_many([chat(i, text=f"{SECRET_TEXT} {i}", callback=callback) for i in ids])
    wait_for(lambda: finished(producer, ids), 60, "items delivered")

    assert httpx.get(f"{base}/api/workers?refresh=1", timeout=10).status_code == 401
    assert httpx.get(f"{base}/api/tasks", auth=("ops", "wrong"), timeout=10).status_code == 401
    workers = httpx.get(f"{base}/api/workers?refresh=1", auth=AUTH, timeout=30)
    assert workers.status_code == 200, workers.text
    assert any(name.startswith("w1@") for name in workers.json()), workers.text

    def our_tasks() -> dict[str, dict[str, object]]:
        response = httpx.get(f"{base}/api/tasks", auth=AUTH, timeout=10)
        assert response.status_code == 200, response.text
        tasks: dict[str, dict[str, object]] = response.json()
        done = {t["name"] for t in tasks.values() if t.get("state") == "SUCCESS"}
        return tasks if done >= EXPECTED_TASKS else {}

    tasks = wait_for(our_tasks, 30, "pack, collect and deliver tasks in Flower")
    response = httpx.get(f"{base}/api/tasks", auth=AUTH, timeout=10)
    assert "zebra-quartz" not in response.text
    names = {str(t["name"]) for t in tasks.values()}
    assert all(name.startswith("batchrelay.") for name in names), names
    deliver_args = [str(t["args"]) for t in tasks.values() if t["name"] == "batchrelay.deliver"]
    delivered_ids = " ".join(deliver_args)
    assert all(f"'{i}'" in delivered_ids for i in ids), delivered_ids
    collect_args = [str(t["args"]) for t in tasks.values() if t["name"] == "batchrelay.collect"]
    assert all(a.startswith("['brb-") for a in collect_args), collect_args

    for secret in (FAKE_KEY, FAKE_SECRET):
        assert secret not in response.text
        assert secret.encode() not in keyspace_dump(redis)
        for name in ("w1", "beat"):
            assert secret not in cluster.log(name), name
        assert secret not in services.log("flower")

    metrics = httpx.get(f"{base}/metrics", auth=AUTH, timeout=10)
    assert metrics.status_code == 200
    assert "flower_events_total" in metrics.text
    assert "batchrelay.deliver" in metrics.text
