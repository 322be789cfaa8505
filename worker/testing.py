"""Real Celery worker and beat processes for tests and benchmarks, killable on demand.

`Cluster` starts `celery -A worker.app worker|beat` subprocesses (each in its own session, so a
SIGKILL takes the pool with it), waits until they are ready, restarts them when they die if
asked to (as a supervisor would), and stops them all. `FAST_SETTINGS` compresses batchrelay's
timings so a test finishes in seconds. Used by batchrelay's own tests and benchmarks, and
usable in yours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from redis import Redis

from producers.connection import safe_url
from worker.config import WORKER_QUEUES
from worker.services import stop_processes

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


OWNED_MARK = "batchrelay:test-database"
"""A key that says a Redis database belongs to batchrelay's tests or benchmarks, which may flush
it; it is set in the database itself after every flush."""


class NotOurDatabase(RuntimeError):
    """A database holds keys that batchrelay's tests or benchmarks did not write."""


def claim_database(redis: Redis, url: str) -> None:
    """Flush the database and mark it ours, unless it holds keys and no mark: then refuse."""
    if redis.dbsize() and not redis.exists(OWNED_MARK):
        raise NotOurDatabase(
            f"refusing to flush {safe_url(url)}: it holds {redis.dbsize()} keys that "
            "batchrelay's tests did not write; empty it, or point BATCHRELAY_TEST_REDIS_URL "
            "at another server"
        )
    reset_database(redis)


def reset_database(redis: Redis) -> None:
    """Flush a database the tests own, keeping the mark that says so."""
    redis.flushdb()
    redis.set(OWNED_MARK, b"1")


def clean_env() -> dict[str, str]:
    """This process's environment without any BATCHRELAY_, OPENAI_ or ANTHROPIC_ variable."""
    prefixes = ("BATCHRELAY_", "OPENAI_", "ANTHROPIC_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


FAST_SETTINGS = {
    "BATCHRELAY_FLUSH_AFTER": "0.5",
    "BATCHRELAY_AGGREGATE_INTERVAL": "0.3",
    "BATCHRELAY_POLL_INTERVAL": "0.5",
    "BATCHRELAY_HOUSEKEEPING_INTERVAL": "1",
    "BATCHRELAY_LEASE_SECONDS": "8",
    "BATCHRELAY_BEAT_LOCK_TIMEOUT": "5",
    "BATCHRELAY_RETRY_BACKOFF": "0.2",
    "BATCHRELAY_RETRY_BACKOFF_MAX": "1",
    "BATCHRELAY_TOKEN_BACKOFF": "0.5",
    "BATCHRELAY_TOKEN_BACKOFF_MAX": "2",
    "BATCHRELAY_WEBHOOK_ALLOW": '["127.0.0.1/8", "localhost"]',
}


def worker_args(name: str, concurrency: int = 2, queues: str = WORKER_QUEUES) -> list[str]:
    """`celery worker` arguments of a test worker named ``name``."""
    return [
        "worker", "-Q", queues, "-c", str(concurrency), "-n", f"{name}@%h",
        "--loglevel", "INFO", "--without-mingle", "--without-gossip",
    ]  # fmt: skip


class Cluster:
    """Workers and beats of one test, sharing one environment; all stopped at teardown."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.recipes: dict[str, tuple[list[str], dict[str, str] | None, str]] = {}
        self.restarts = 0
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()

    def supervise(self) -> None:
        """Restart any process that dies on its own, as Kubernetes or compose would."""

        def loop() -> None:
            while not self._stopping.wait(0.5):
                for name, process in list(self.processes.items()):
                    if process.poll() is not None and name in self.recipes:
                        self.restarts += 1
                        args, extra_env, app = self.recipes[name]
                        self._start(name, args, extra_env, app)

        self._supervisor = threading.Thread(target=loop, daemon=True)
        self._supervisor.start()

    def _start(
        self, name: str, args: list[str], extra_env: dict[str, str] | None, app: str = "worker.app"
    ) -> subprocess.Popen[bytes]:
        self.recipes[name] = (args, extra_env, app)
        return self.command(name, [sys.executable, "-m", "celery", "-A", app, *args], extra_env)

    def command(
        self, name: str, argv: list[str], extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start any command in this cluster's environment, logging to ``<name>.log``."""
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def worker(
        self,
        name: str = "w1",
        concurrency: int = 2,
        extra_env: dict[str, str] | None = None,
        queues: str = WORKER_QUEUES,
        app: str = "worker.app",
    ) -> subprocess.Popen[bytes]:
        process = self._start(name, worker_args(name, concurrency, queues), extra_env, app)
        wait_for(
            lambda: b"ready" in self.log(name).encode() or process.poll() is not None,
            60,
            f"worker {name} ready",
        )
        assert process.poll() is None, self.log(name)
        return process

    def beat(self, name: str = "beat") -> subprocess.Popen[bytes]:
        return self._start(name, ["beat", "--loglevel", "INFO"], None)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, name: str) -> None:
        """SIGKILL a process and its pool children (the whole process group)."""
        self.recipes.pop(name, None)
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def signal(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Kill a supervised process's group; the supervisor starts it again."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
        stop_processes(list(self.processes.values()), timeout=10)
        self.processes.clear()
