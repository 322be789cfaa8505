"""The ops roles (Flower behind basic auth, the exporter) as processes of a test cluster."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import httpx

from worker.services import free_port
from worker.testing import Cluster, wait_for

AUTH = ("ops", "a-long-password")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5, auth=AUTH).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class OpsRoles:
    metrics: str
    flower: str

    def redis_is_up(self) -> bool:
        """The exporter could read Redis at this scrape."""
        return "batchrelay_up 1.0" in httpx.get(self.metrics, timeout=10).text

    def workers(self) -> set[str]:
        """The workers Flower knows, asking them afresh."""
        reply = httpx.get(f"{self.flower}/api/workers?refresh=1", auth=AUTH, timeout=30)
        return {name.split("@")[0] for name in reply.json()}


def start_fleet(cluster: Cluster) -> OpsRoles:
    """What production runs: a callback receiver, two workers, two beats, Flower and the
    exporter."""
    from tests.support.items import receiver

    receiver(cluster)
    cluster.worker("w1")
    cluster.worker("w2")
    cluster.beat("beat1")
    cluster.beat("beat2")
    return start_ops_roles(cluster)


def assert_still_running(started: dict[str, subprocess.Popen[bytes]], cluster: Cluster) -> None:
    """Every process started is still the one running: none exited."""
    for name, process in started.items():
        assert process.poll() is None, f"{name} exited:\n{cluster.log(name)[-3000:]}"


def start_ops_roles(cluster: Cluster) -> OpsRoles:
    """`batchrelay flower` and `batchrelay exporter`, started as a user starts them."""
    ports = {"flower": free_port(), "exporter": free_port()}
    for role, port in ports.items():
        cluster.command(
            role,
            [sys.executable, "-m", "worker.cli", role, "--port", str(port)],
            {"BATCHRELAY_FLOWER_BASIC_AUTH": ":".join(AUTH)},
        )
    roles = OpsRoles(
        f"http://127.0.0.1:{ports['exporter']}/metrics", f"http://127.0.0.1:{ports['flower']}"
    )
    wait_for(lambda: answers(roles.metrics), 30, "the exporter")
    wait_for(lambda: answers(f"{roles.flower}/api/workers"), 60, "flower")
    return roles
