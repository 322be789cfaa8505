"""A password-protected Redis: the producer, a worker, beat and the CLI all work through the
URL's credentials, and a wrong password is a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError

from producers import Producer
from producers.settings import Settings
from tests.support.cluster import Cluster
from tests.support.inspect import keyspace_dump
from worker.services import start_redis

pytestmark = pytest.mark.slow  # Redis servers and roles as processes

PASSWORD = "redis-pass-RECOGNIZABLE-77"


def test_password_protected_redis(tmp_path: Path, worker_env: dict[str, str]) -> None:
    server, url = start_redis(tmp_path / "redis", password=PASSWORD)
    env = {**worker_env, "BATCHRELAY_REDIS_URL": url}
    cluster = Cluster(env, tmp_path)
    try:
        with pytest.raises((AuthenticationError, ResponseError)):
            Redis.from_url(url.replace(PASSWORD, "wrong")).ping()
        producer = Producer.from_url(url)
        messages = [{"role": "user", "content": "hi"}]
        producer.submit({"id": "auth-1", "body": {"model": "gpt-4o-mini", "messages": messages}})
        cluster.worker()
        cluster.beat()
        assert producer.wait("auth-1", timeout=60)["status"] == "succeeded"
        status = subprocess.run(
            [sys.executable, "-m", "worker.cli", "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0 and '"partitions"' in status.stdout
        for name in ("w1", "beat"):
            assert PASSWORD not in cluster.log(name)
        assert PASSWORD.encode() not in keyspace_dump(Redis.from_url(url))
        wrong = subprocess.run(
            [sys.executable, "-m", "worker.cli", "status"],
            env={**env, "BATCHRELAY_REDIS_URL": url.replace(PASSWORD, "wrong")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert wrong.returncode == 2 and "cannot use Redis" in wrong.stderr
        assert "wrong" not in wrong.stderr and PASSWORD not in wrong.stderr
        assert Settings(redis_url=url).redis_url == url
        # An ACL user instead of the default user: producers and the CLI work through it too.
        Redis.from_url(url).acl_setuser(
            "relay",
            enabled=True,
            passwords=["+acl-pass-1"],
            keys=["*"],
            channels=["*"],
            commands=["+@all"],
        )
        acl_url = url.replace(f":{PASSWORD}@", ":acl-pass-1@").replace("redis://", "redis://relay")
        Producer.from_url(acl_url).submit({"id": "acl-1", "body": {"model": "m", "input": "x"}})
        listed = subprocess.run(
            [sys.executable, "-m", "worker.cli", "status", "--json"],
            env={**env, "BATCHRELAY_REDIS_URL": acl_url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0 and '"model": "m"' in listed.stdout, listed.stderr
    finally:
        cluster.stop()
        server.terminate()
        server.wait()
