"""The examples the docs show run as they are."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from starlette.testclient import TestClient

from tests.support.cluster import Cluster

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fastapi_service_submits_and_long_polls(
    cluster: Cluster, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHRELAY_REDIS_URL", redis_url)
    service = load("fastapi_service")
    with TestClient(service.app) as http:
        item_id = http.post("/reviews", params={"text": "arrived broken"}).json()["id"]
        assert http.get(f"/reviews/{item_id}").json() == {"id": item_id, "status": "pending"}
        assert http.get("/reviews/nope").status_code == 404
        cluster.worker()
        cluster.beat()
        done = http.get(f"/reviews/{item_id}", params={"wait": 60}).json()
    assert done["status"] == "succeeded" and done["answer"], done
