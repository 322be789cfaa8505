"""Fixtures for the operations tests: CLI services (exporter, Flower, quiet Celery) as real
processes, and a Prometheus scrape parsed with prometheus_client's own parser."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cluster import worker_args
from tests.support.waiting import wait_for
from worker.testing import clean_env

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
CLI = [sys.executable, "-m", "worker.cli"]
CELERY = [sys.executable, "-m", "celery", "-A", "worker.app", "-q"]


class Services:
    """Processes of one test, each logging to its own file; stopped at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes[name] = process
        return process

    def worker(self, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """A Celery worker without its banner (-q), so its output is log records only."""
        process = self.start(name, [*CELERY, *worker_args(name)], env)
        wait_for(
            lambda: "ready" in self.log(name) or process.poll() is not None, 60, f"{name} ready"
        )
        assert process.poll() is None, self.log(name)
        return process

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, name: str, timeout: float = 10) -> int:
        """SIGTERM the process group, SIGKILL after ``timeout``; returns the exit code."""
        process = self.processes.pop(name)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise

    def stop_all(self) -> None:
        for name in list(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop(name)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    running = Services(tmp_path)
    yield running
    running.stop_all()


@pytest.fixture
def plain_env(redis_url: str) -> dict[str, str]:
    """An environment naming the test Redis and nothing else of ours (no emulator needed)."""
    env = clean_env()
    return {**env, "BATCHRELAY_REDIS_URL": redis_url}


def wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    """Wait until ``url`` answers at all (any status), failing fast if the process died."""

    def answers() -> bool:
        assert process.poll() is None, f"{what} exited with {process.returncode}"
        try:
            httpx.get(url, timeout=2)
        except httpx.HTTPError:
            return False
        return True

    wait_for(answers, timeout, what, interval=0.2)


def scrape(url: str) -> Samples:
    """Every sample of a /metrics page, keyed by (sample name, labels)."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def values(samples: Samples, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """Samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return {k: v for (n, k), v in samples.items() if n == name and want <= k}
