"""Every error comes back in OpenAI's envelope: validation errors name their field, and an
unexpected exception is a bare 500 (in process, with routes added for the purpose)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auth import Tenant
from gateway.errors import GatewayError
from producers.settings import Settings
from tests.gateway.conftest import ACME_KEY, TENANT_KEYS

AUTH = {"Authorization": f"Bearer {ACME_KEY}"}


class Order(BaseModel):
    input_file_id: str
    count: int = 1


router = APIRouter(prefix="/v1/test")


@router.post("/orders")
async def create_order(order: Order, tenant: Tenant) -> dict[str, str]:
    return {"tenant": tenant, "input_file_id": order.input_file_id}


@router.get("/boom")
async def boom(tenant: Tenant) -> None:
    raise RuntimeError(f"secret detail of {tenant}")


@router.get("/busy")
async def busy(tenant: Tenant) -> None:
    raise GatewayError(429, f"{tenant} is busy", "rate_limit_error", headers={"retry-after": "7"})


@pytest.fixture
def http(redis_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(redis_url=redis_url, gateway_keys=json.dumps(TENANT_KEYS)))
    app.include_router(router)
    with TestClient(app, base_url="http://gateway", raise_server_exceptions=False) as client:
        yield client


def test_a_routers_tenant_and_body_come_through(http: TestClient) -> None:
    response = http.post("/v1/test/orders", json={"input_file_id": "file-1"}, headers=AUTH)
    assert response.json() == {"tenant": "acme", "input_file_id": "file-1"}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "input_file_id", "missing_required_parameter"),
        ({"input_file_id": "f", "count": "many"}, "count", "invalid_value"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(
    http: TestClient, body: dict[str, str], param: str, code: str
) -> None:
    response = http.post("/v1/test/orders", json=body, headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


def test_a_body_that_is_not_json_is_400(http: TestClient) -> None:
    response = http.post(
        "/v1/test/orders",
        content=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "could not parse the JSON body" in response.json()["error"]["message"]


def test_an_unexpected_exception_is_a_500_without_details(http: TestClient) -> None:
    response = http.get("/v1/test/boom", headers=AUTH)
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


def test_a_gateway_error_keeps_its_headers(http: TestClient) -> None:
    response = http.get("/v1/test/busy", headers=AUTH)
    assert (response.status_code, response.headers["retry-after"]) == (429, "7")
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_a_wrong_method_is_in_the_envelope_too(http: TestClient) -> None:
    response = http.put("/v1/files", headers=AUTH)
    assert response.status_code == 405
    assert response.json()["error"]["message"] == "Invalid URL (PUT /v1/files)"
