"""Tenant keys: bearer auth, 401s in OpenAI's envelope, `sha256:` keys, keys kept out of the
log, and a gateway that refuses to start without a valid BATCHRELAY_GATEWAY_KEYS."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import httpx
import openai
import pytest
from redis import Redis

from gateway.config import load_tenants
from gateway.testing import RunningGateway, child_env, free_port, running_gateway
from producers.errors import ConfigurationError
from producers.settings import Settings
from tests.gateway.conftest import ACME_KEY, GLOBEX_KEY, gateway_env, gateway_keys, jsonl
from tests.support.cli import cli

WRONG_KEY = "sk-not-a-tenant-4c1e97b25d"
INVALID_API_KEY = {"type": "invalid_request_error", "param": None, "code": "invalid_api_key"}


def test_every_tenant_key_is_accepted(gateway: RunningGateway) -> None:
    for key in (ACME_KEY, GLOBEX_KEY):
        assert gateway.client(key).files.list().data == []


def test_a_wrong_key_is_401_invalid_api_key(gateway: RunningGateway) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        gateway.client(WRONG_KEY).files.list()

    assert caught.value.status_code == 401
    body = caught.value.response.json()
    assert set(body) == {"error"}
    assert body["error"]["message"].startswith("Incorrect API key provided")
    assert WRONG_KEY not in body["error"]["message"]
    assert {k: v for k, v in body["error"].items() if k != "message"} == INVALID_API_KEY


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {ACME_KEY}"},
    ],
)
def test_a_missing_key_is_401_invalid_api_key(
    gateway: RunningGateway, headers: dict[str, str]
) -> None:
    for method, path in (("GET", "/files"), ("POST", "/files"), ("GET", "/files/file-1/content")):
        response = httpx.request(method, gateway.base_url + path, headers=headers)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["message"].startswith("You didn't provide an API key")
        assert {k: v for k, v in error.items() if k != "message"} == INVALID_API_KEY


def test_an_upload_with_a_wrong_key_stores_nothing(gateway: RunningGateway, redis: Redis) -> None:
    with pytest.raises(openai.AuthenticationError):
        gateway.client(WRONG_KEY).files.create(file=("r.jsonl", jsonl(10)), purpose="batch")
    assert gateway_keys(redis) == []


def test_bad_keys_are_logged_by_digest_only(gateway: RunningGateway) -> None:
    secret = "sk-leaked-if-logged-9b8e7f6a5d"
    for key in (secret, WRONG_KEY):
        with pytest.raises(openai.AuthenticationError):
            gateway.client(key, max_retries=0).files.retrieve("file-x")
    httpx.get(gateway.base_url + "/files", headers={"Authorization": f"Bearer {secret}x"})

    log = gateway.log()
    assert f"sha256 {hashlib.sha256(secret.encode()).hexdigest()[:12]}" in log
    for key in (
        secret,
        WRONG_KEY,
        ACME_KEY,
        GLOBEX_KEY,
        secret[3:15],
        hashlib.sha256(secret.encode()).hexdigest()[:13],
    ):
        assert key not in log


def test_a_sha256_key_works(redis_url: str) -> None:
    key = "sk-hashed-tenant-31f0b6a2e9"
    digest = hashlib.sha256(key.encode()).hexdigest()
    keys = {"hashed": f"sha256:{digest}", "upper": f"sha256:{hashlib.sha256(b'u').hexdigest()}"}
    with running_gateway(gateway_env(redis_url, keys)) as gateway:
        client = gateway.client(key, max_retries=0)
        file_id = client.files.create(file=("r.jsonl", jsonl(2)), purpose="batch").id
        assert [f.id for f in client.files.list()] == [file_id]
        with pytest.raises(openai.AuthenticationError):
            gateway.client(f"sha256:{digest}", max_retries=0).files.list()
        with pytest.raises(openai.AuthenticationError):
            gateway.client(digest, max_retries=0).files.list()


def test_healthz_needs_no_key(gateway: RunningGateway) -> None:
    response = httpx.get(gateway.url + "/healthz")
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_healthz_is_503_while_redis_does_not_answer() -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with running_gateway(gateway_env(nowhere), expect_healthy=False) as gateway:
        response = httpx.get(gateway.url + "/healthz")
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "server_error"
        with pytest.raises(openai.InternalServerError) as caught:
            gateway.client(ACME_KEY, max_retries=0).files.list()
        assert caught.value.status_code == 503


@pytest.mark.parametrize(
    ("command", "keys", "says"),
    [
        (["-m", "worker.cli", "gateway"], None, "BATCHRELAY_GATEWAY_KEYS is not set"),
        (["-m", "gateway"], '{"acme": "sk-secret-in-bad-json"', "is not valid JSON (line 1"),
    ],
)
def test_the_gateway_refuses_to_start_without_valid_keys(
    redis_url: str, command: list[str], keys: str | None, says: str
) -> None:
    env = child_env(gateway_env(redis_url))
    del env["BATCHRELAY_GATEWAY_KEYS"]
    if keys is not None:
        env["BATCHRELAY_GATEWAY_KEYS"] = keys

    result = subprocess.run(
        [sys.executable, *command, "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("batchrelay: BATCHRELAY_GATEWAY_KEYS")
    assert result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr
    assert "sk-secret" not in result.stderr


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ("", "BATCHRELAY_GATEWAY_KEYS is not set"),
        ("[]", "must be a non-empty JSON object"),
        ("{}", "must be a non-empty JSON object"),
        ('{"Acme!": "sk-secret-value"}', "'Acme!' is not a valid tenant name"),
        ('{"acme": ""}', "tenant 'acme' has no key"),
        ('{"acme": 42}', "tenant 'acme' has no key"),
        ('{"acme": " sk-secret-spaced"}', "tenant 'acme': the key has surrounding spaces"),
        ('{"acme": "sha256:abc"}', "tenant 'acme': 'sha256:' must be followed by"),
        ('{"a": "sk-secret-twice", "b": "sk-secret-twice"}', "tenants 'a' and 'b' have the same"),
        (
            '{"a": "sk-secret-hashed", "b": "sha256:'
            + hashlib.sha256(b"sk-secret-hashed").hexdigest()
            + '"}',
            "tenants 'a' and 'b' have the same",
        ),
    ],
)
def test_every_bad_key_setting_is_named(keys: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_tenants(Settings(gateway_keys=keys))
    message = str(caught.value)
    assert says in message and "\n" not in message
    assert "sk-secret" not in message


def test_a_bad_setting_is_one_line_too(redis_url: str) -> None:
    env = child_env(gateway_env(redis_url, gateway_max_file_bytes="lots"))
    result = cli(env, "gateway", "--port", str(free_port()))
    assert result.returncode == 2
    assert result.stderr.startswith("batchrelay: BATCHRELAY_GATEWAY_MAX_FILE_BYTES:")
    assert result.stderr.count("\n") == 1
