"""Run the gateway from tests: `python -m gateway` as a subprocess on a free port.

    env = {"BATCHRELAY_REDIS_URL": url, "BATCHRELAY_GATEWAY_KEYS": '{"acme": "sk-acme"}'}
    with running_gateway(env) as gateway:
        client = gateway.client("sk-acme")  # the official openai SDK
        ...
        gateway.restart()  # same port, same environment

``env`` is laid over this process's environment without its BATCHRELAY_, OPENAI_ and
ANTHROPIC_ variables, so the gateway sees only the settings a test gives it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
HOST = "127.0.0.1"


class GatewayStartError(RuntimeError):
    pass


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` over this environment without batchrelay's or the providers' variables."""
    prefixes = ("BATCHRELAY_", "OPENAI_", "ANTHROPIC_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    # The child imports the same packages as this process, wherever they live.
    package_root = str(Path(__file__).resolve().parent.parent)
    python_path = os.pathsep.join(p for p in (package_root, base.get("PYTHONPATH")) if p)
    return {**base, "PYTHONUNBUFFERED": "1", "PYTHONPATH": python_path, **env}


def _status_kib(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{name} not in /proc/{pid}/status")


@dataclass
class RunningGateway:
    """A gateway subprocess: its address, clients, log, memory; stop and restart it."""

    env: dict[str, str]
    port: int
    log_path: Path
    expect_healthy: bool = True
    host: str = HOST
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the gateway is not running"
        return self.process.pid

    def client(self, key: str, **kwargs: Any) -> openai.OpenAI:
        """The official openai SDK's client, with this tenant key, aimed at the gateway."""
        kwargs.setdefault("base_url", self.base_url)
        return openai.OpenAI(api_key=key, **kwargs)

    def log(self) -> str:
        """Everything the gateway wrote, across restarts."""
        return self.log_path.read_text(errors="replace")

    def peak_rss_mib(self) -> float:
        """The process's peak resident memory so far (VmHWM), in MiB."""
        return _status_kib(self.pid, "VmHWM") / 1024

    def rss_mib(self) -> float:
        return _status_kib(self.pid, "VmRSS") / 1024

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--host", self.host, "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(self.env),
            )
        self._wait_until_up()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in time."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, *, kill: bool = False) -> None:
        """Stop it (SIGKILL, with ``kill``) and start it again on the same port."""
        if kill and self.process is not None:
            self.process.kill()
            self.process.wait()
        self.stop()
        self.start()

    def _wait_until_up(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        wanted = (200,) if self.expect_healthy else (200, 503)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise GatewayStartError(
                    f"the gateway exited with {self.process.returncode}: {self.log()[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=5).status_code in wanted:
                    return
            time.sleep(0.05)
        self.stop()
        raise GatewayStartError(f"the gateway did not answer at {self.url} in time")


@contextlib.contextmanager
def running_gateway(
    env: dict[str, str], *, port: int | None = None, expect_healthy: bool = True
) -> Iterator[RunningGateway]:
    """Start `python -m gateway` on a free 127.0.0.1 port with ``env``; wait for /healthz
    (a 200, or any answer unless ``expect_healthy``); stop it on exit."""
    with tempfile.TemporaryDirectory(prefix="batchrelay-gateway-test-") as scratch:
        gateway = RunningGateway(
            dict(env), port or free_port(), Path(scratch) / "gateway.log", expect_healthy
        )
        gateway.start()
        try:
            yield gateway
        finally:
            gateway.stop()
