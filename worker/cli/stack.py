"""`batchrelay up`: Redis (private if none answers), the emulator (without an API key), a
worker, beat, Flower and the gateway as child processes, stopped together on Ctrl-C or
SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from producers.connection import safe_url
from producers.errors import ConfigurationError
from producers.extras import missing
from worker.config import WORKER_QUEUES
from worker.services import (
    DEFAULT_REDIS_URL,
    ProcessGroup,
    free_port,
    http_answers,
    port_free,
    python_module,
    redis_answers,
    start_redis,
    wait_until,
)

EMULATOR_KEY = "sk-batchrelay-emulator"
RESTARTABLE = frozenset({"worker", "beat", "flower", "gateway"})
DEV_TENANT = "dev"


@dataclass
class StackOptions:
    data_dir: Path = Path(".batchrelay")
    concurrency: int = 2
    flower: bool = True
    flower_port: int = 5555
    gateway: bool = True
    gateway_port: int = 8090
    force_emulator: bool = False
    private_redis: bool = False
    emulator_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    quiet: bool = False


class Stack:
    """The local services and roles of one `up`."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.group = ProcessGroup()
        self.env: dict[str, str] = {**os.environ, **options.env}
        self.notes: list[str] = []
        self.gateway_url: str | None = None
        self.gateway_key: str | None = None

    def _redis(self) -> None:
        url = self.env.get("BATCHRELAY_REDIS_URL")
        if url and not self.options.private_redis:
            if not redis_answers(url):
                raise ConfigurationError(
                    f"BATCHRELAY_REDIS_URL is set but nothing answers at {safe_url(url)}"
                )
            return
        if not self.options.private_redis and redis_answers(DEFAULT_REDIS_URL):
            self.env["BATCHRELAY_REDIS_URL"] = DEFAULT_REDIS_URL
            self.notes.append(f"redis: using the server at {DEFAULT_REDIS_URL}")
            return
        process, url = start_redis(self.options.data_dir.resolve() / "redis")
        self.group.adopt("redis", process)
        self.env["BATCHRELAY_REDIS_URL"] = url
        self.notes.append(
            f"redis: started a private server at {url} (AOF in {self.options.data_dir}/redis)"
        )

    def _emulator(self) -> None:
        if self.env.get("OPENAI_API_KEY") and not self.options.force_emulator:
            self.notes.append(
                "openai: using OPENAI_API_KEY"
                + (f" at {self.env['OPENAI_BASE_URL']}" if self.env.get("OPENAI_BASE_URL") else "")
            )
            return
        port = free_port()
        args = python_module(
            "emulator", "--host", "127.0.0.1", "--port", str(port), *self.options.emulator_args
        )
        process = self.group.start("emulator", args, self.env, quiet=True)
        wait_until(
            lambda: http_answers(f"http://127.0.0.1:{port}/_emulator/faults"),
            30,
            "emulator",
            process,
        )
        self.env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
        self.env["OPENAI_API_KEY"] = EMULATOR_KEY
        self.notes.append(
            f"openai: no OPENAI_API_KEY, started the emulator at {self.env['OPENAI_BASE_URL']}"
        )
        if not self.env.get("ANTHROPIC_API_KEY"):  # the emulator speaks Anthropic's API too
            self.env["ANTHROPIC_BASE_URL"] = f"http://127.0.0.1:{port}"
            self.env["ANTHROPIC_API_KEY"] = EMULATOR_KEY
            self.notes.append(f"anthropic: the emulator at {self.env['ANTHROPIC_BASE_URL']}")

    def _gateway(self) -> None:
        """The gateway on 127.0.0.1, with a dev tenant and a fresh key unless
        BATCHRELAY_GATEWAY_KEYS names the tenants."""
        if missing("gateway"):
            self.notes.append("gateway: not started (pip install 'batchrelay[gateway]')")
            return
        if not self.env.get("BATCHRELAY_GATEWAY_KEYS"):
            self.gateway_key = "sk-dev-" + secrets.token_hex(12)
            self.env["BATCHRELAY_GATEWAY_KEYS"] = json.dumps({DEV_TENANT: self.gateway_key})
        port = self.options.gateway_port
        if not port_free(port):
            port = free_port()
        args = python_module("gateway", "--host", "127.0.0.1", "--port", str(port))
        process = self.group.start("gateway", args, self.env, self.options.quiet)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_answers(url + "/healthz"), 30, "gateway", process)
        self.gateway_url = url + "/v1"
        key = f", dev key {self.gateway_key} (tenant {DEV_TENANT})" if self.gateway_key else ""
        self.notes.append(f"gateway: {self.gateway_url}{key}")

    def start(self) -> dict[str, str]:
        try:
            self._redis()
            self._emulator()
            quiet = self.options.quiet
            celery = ["celery", "-A", "worker.app"]
            self.group.start(
                "worker",
                python_module(
                    *celery,
                    "worker",
                    "-Q",
                    WORKER_QUEUES,
                    "-c",
                    str(self.options.concurrency),
                    "-n",
                    f"batchrelay-{os.getpid()}@%h",
                    "--loglevel",
                    "INFO",
                ),
                self.env,
                quiet,
            )
            self.group.start(
                "beat", python_module(*celery, "beat", "--loglevel", "INFO"), self.env, quiet
            )
            if self.options.flower:
                self.group.start(
                    "flower",
                    [
                        sys.executable,
                        "-m",
                        "worker.cli",
                        "flower",
                        "--port",
                        str(self.options.flower_port),
                    ],
                    self.env,
                    quiet,
                )
                self.notes.append(f"flower: http://127.0.0.1:{self.options.flower_port}")
            if self.options.gateway:
                self._gateway()
        except BaseException:
            self.group.stop()
            raise
        return self.env

    def stop(self) -> None:
        self.group.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--no-flower", action="store_true", help="do not start Flower")
    parser.add_argument("--flower-port", type=int, default=5555)
    parser.add_argument("--no-gateway", action="store_true", help="do not start the gateway")
    parser.add_argument(
        "--gateway-port", type=int, default=8090, help="its port (a free one if taken)"
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".batchrelay"))
    parser.add_argument(
        "--private-redis",
        action="store_true",
        help="start a private Redis even if one answers on 127.0.0.1:6379",
    )


def options_from(args: argparse.Namespace) -> StackOptions:
    return StackOptions(
        data_dir=args.data_dir,
        concurrency=args.concurrency,
        flower=not args.no_flower,
        flower_port=args.flower_port,
        gateway=not args.no_gateway,
        gateway_port=args.gateway_port,
        private_redis=args.private_redis,
    )


def run_up(args: argparse.Namespace) -> int:
    stack = Stack(options_from(args))
    stopping = False

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stack.start()
    for note in stack.notes:
        print(note, flush=True)
    print("batchrelay is up; Ctrl-C stops it", flush=True)
    restarts: dict[str, float] = {}
    try:
        while not stopping:
            exited = stack.group.first_exited()
            if exited and exited[0] not in RESTARTABLE:
                print(f"{exited[0]} exited with code {exited[1]}; stopping", file=sys.stderr)
                return 1
            if exited:
                # Like a process supervisor: roles are stateless, so a crashed one is restarted.
                name = exited[0]
                delay = min(30.0, restarts.get(name, 0.5) * 2)
                restarts[name] = delay
                print(
                    f"{name} exited with code {exited[1]}; restarting in {delay:.0f}s",
                    file=sys.stderr,
                )
                time.sleep(delay)
                stack.group.restart(name)
            time.sleep(0.5)
        return 0
    finally:
        stack.stop()
