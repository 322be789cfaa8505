"""Celery worker and beat processes for the end-to-end benchmark, stopped by their own ids."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from worker.config import WORKER_QUEUES

READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


class Workers:
    """Processes started here (each in its own session), logged under ``log_dir``."""

    def __init__(self, env: dict[str, str], log_dir: Path, cwd: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.cwd = cwd
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "worker.app", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def worker(self, name: str, concurrency: int = 1) -> None:
        self.start(
            name,
            [
                "worker",
                "-Q",
                WORKER_QUEUES,
                "-c",
                str(concurrency),
                "-n",
                f"{name}@%h",
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
            ],
        )

    def beat(self) -> None:
        self.start("beat", ["beat", "--loglevel", "INFO"])

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for_log(self, names: list[str], text: str) -> None:
        """Wait until one of ``names`` logged ``text``."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not any(text in self.log(name) for name in names):
            if any(self.processes[name].poll() is not None for name in self.processes):
                raise RuntimeError(f"a process exited: {[self.log(n)[-1000:] for n in names]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {text!r} in the logs of {names} after {READY_TIMEOUT_S}s")
            time.sleep(0.1)

    def wait_ready(self, names: list[str]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        for name in names:
            while " ready." not in self.log(name):
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.log(name)[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready after {READY_TIMEOUT_S}s")
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM each process group we started, then SIGKILL what is left."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        self.processes.clear()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signum)


@contextmanager
def running_workers(env: dict[str, str], log_dir: Path, cwd: Path, count: int) -> Iterator[Workers]:
    """``count`` worker processes (one Celery node of concurrency 1 each) and a beat, yielded
    once the workers are ready and the first beat tick has reached one of them."""
    workers = Workers(env, log_dir, cwd)
    try:
        names = [f"bench{n + 1}" for n in range(count)]
        for name in names:
            workers.worker(name)
        workers.wait_ready(names)
        workers.beat()
        workers.wait_for_log(names, "Task batchrelay.tick[")
        yield workers
    finally:
        workers.stop()
