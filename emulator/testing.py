"""Run the emulator from tests: as a subprocess over HTTP, or in this process.

    with running_emulator(batch_seconds=0.5, line_500_rate=0.1) as emulator:
        client = emulator.client()
        emulator.set_faults(http_429_rate=0.3)
        ...
        emulator.reset()

Flags are the CLI's, with underscores: `batch_seconds=0.5` -> `--batch-seconds 0.5`; lists
are joined with commas; `None` and `False` leave a flag out.

`in_process_emulator(batch_seconds=0.2)` runs the same app in this process, reached through
Starlette's TestClient (an httpx transport into the ASGI app): no port and no subprocess,
for tests that must take milliseconds. Its client is the official `openai` SDK all the same.

Either one's `anthropic_client()` is the official `anthropic` SDK, for the Messages API and
Message Batches (`client.messages.batches.*`).
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
from typing import IO, TYPE_CHECKING, Any, cast

import httpx
import openai

if TYPE_CHECKING:
    import anthropic

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0


class EmulatorStartError(RuntimeError):
    pass


class EmulatorControls:
    """The client and the fault switch of an emulator, wherever it runs."""

    api_key: str
    _http: httpx.Client

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.base_url)
        return openai.OpenAI(**kwargs)

    def anthropic_client(self, **kwargs: Any) -> anthropic.Anthropic:
        """The anthropic SDK's client; its base URL is the emulator's root (it adds /v1)."""
        import anthropic

        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.url)
        return anthropic.Anthropic(**kwargs)

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Merges `faults` into the live faults; returns them all."""
        return self._control("POST", "/_emulator/faults", json=faults)

    def faults(self) -> dict[str, Any]:
        return self._control("GET", "/_emulator/faults")

    def reset(self, *, data: bool = False) -> dict[str, Any]:
        """Clears every fault; with `data=True` also every file and batch."""
        return self._control("POST", "/_emulator/reset", json={"data": data})

    def info(self) -> dict[str, Any]:
        return self._control("GET", "/_emulator/info")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A raw HTTP request, `path` from the emulator's root: to see bodies and headers."""
        return self._http.request(method, self.url + path, **kwargs)

    def _control(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        response = self._http.request(method, self.url + path, json=json)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@dataclass
class RunningEmulator(EmulatorControls):
    process: subprocess.Popen[bytes]
    host: str
    port: int
    api_key: str
    log_path: Path
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10), repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory (VmHWM), in MiB."""
        return _status_kib(self.process.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return _status_kib(self.process.pid, "VmRSS") / 1024

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


@dataclass
class InProcessEmulator(EmulatorControls):
    """The emulator app in this process (see in_process_emulator)."""

    _http: httpx.Client
    api_key: str = "test-key"

    @property
    def url(self) -> str:
        return "http://emulator"

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("http_client", self._http)
        return super().client(**kwargs)

    def anthropic_client(self, **kwargs: Any) -> anthropic.Anthropic:
        from emulator.relay import in_process_client

        kwargs.setdefault("http_client", in_process_client(self._http))
        return super().anthropic_client(**kwargs)


@contextlib.contextmanager
def in_process_emulator(**settings: Any) -> Iterator[InProcessEmulator]:
    """The emulator app in this process, its batches run on the app's own event loop (in
    TestClient's thread); ``settings`` are EmulatorSettings fields."""
    from starlette.testclient import TestClient

    from emulator.app import create_app
    from emulator.config import EmulatorSettings

    app = create_app(EmulatorSettings(**settings))
    with TestClient(app, base_url="http://emulator") as http:
        yield InProcessEmulator(cast(httpx.Client, http))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def cli_args(flags: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in flags.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            args += [flag, ",".join(str(v) for v in value)]
        else:
            args += [flag, str(value)]
    return args


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.flush()
            raise EmulatorStartError(
                f"the emulator exited with {process.returncode}: "
                + Path(log.name).read_text(errors="replace")[-2000:]
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/_emulator/health", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise EmulatorStartError(f"the emulator did not answer at {url} in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_emulator(**flags: Any) -> Iterator[RunningEmulator]:
    """Starts `python -m emulator` on a free 127.0.0.1 port; stops it on exit."""
    host = "127.0.0.1"
    flags.setdefault("port", free_port(host))
    flags["host"] = host
    port = int(flags["port"])
    # The child imports the same `emulator` package as this process, wherever that lives.
    package_root = str(Path(__file__).resolve().parent.parent)
    python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": python_path}
    with tempfile.TemporaryDirectory(prefix="batchrelay-emulator-test-") as scratch:
        log_path = Path(scratch) / "emulator.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "emulator", *cli_args(flags)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            try:
                url = f"http://{host}:{port}"
                _wait_until_up(process, url, log)
                running = RunningEmulator(
                    process, host, port, flags.get("api_key") or "test-key", log_path
                )
                with running._http:
                    yield running
            finally:
                _stop(process)
