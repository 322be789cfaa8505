"""One role per command: worker, beat, flower, emulator, exporter, gateway (each replaces this
process with the real server, or serves in it, so signals reach it directly)."""

from __future__ import annotations

import argparse
import os
import sys

from producers.settings import Settings
from worker.config import WORKER_QUEUES

CELERY = [sys.executable, "-m", "celery", "-A", "worker.app"]


def _exec(args: list[str], env: dict[str, str] | None = None) -> int:
    os.execve(args[0], args, env or dict(os.environ))
    return 0  # pragma: no cover - execve does not return


def celery() -> list[str]:
    """The celery command; quiet (no banner) when every line must be a JSON log record. The
    providers are read first, so a wrong providers file is said in one line, not a trace."""
    settings = Settings()
    settings.provider_config()
    return [*CELERY, "-q"] if settings.log_json else list(CELERY)


def run_worker(args: argparse.Namespace) -> int:
    command = [*celery(), "worker", "-Q", WORKER_QUEUES, "--loglevel", args.loglevel]
    if args.concurrency:
        command += ["-c", str(args.concurrency)]
    return _exec(command + args.extra)


def run_beat(args: argparse.Namespace) -> int:
    return _exec([*celery(), "beat", "--loglevel", args.loglevel, *args.extra])


def run_flower(args: argparse.Namespace) -> int:
    settings = Settings()
    env = dict(os.environ)
    # Flower reads FLOWER_BASIC_AUTH itself; passing it in the environment keeps it out of `ps`.
    if settings.flower_basic_auth is not None:
        env["FLOWER_BASIC_AUTH"] = settings.flower_basic_auth.get_secret_value()
    command = [*CELERY, "flower", f"--port={args.port}", f"--address={args.address}", *args.extra]
    return _exec(command, env)


def run_exporter(args: argparse.Namespace) -> int:
    from worker.metrics.exporter import serve

    return serve(args.host, args.port)


def run_gateway(args: argparse.Namespace) -> int:
    """Serve the gateway. Its settings and keys are checked before the server is imported, so
    a wrong one is said in one line at once; it needs its own extra, the other roles do not."""
    from gateway.config import load_settings, load_tenants

    settings = load_settings()
    load_tenants(settings)
    from gateway.server import serve

    return serve(args.host, args.port, args.log_level, settings)


def add_role_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    worker = sub.add_parser("worker", help="run a Celery worker of the batchrelay queue")
    worker.add_argument("--concurrency", "-c", type=int, default=0)
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(handler=run_worker)
    beat = sub.add_parser("beat", help="run Celery beat (RedBeat: run two for high availability)")
    beat.add_argument("--loglevel", default="INFO")
    beat.set_defaults(handler=run_beat)
    flower = sub.add_parser(
        "flower", help="run Flower (basic auth from BATCHRELAY_FLOWER_BASIC_AUTH)"
    )
    flower.add_argument("--port", type=int, default=5555)
    flower.add_argument("--address", default="127.0.0.1")
    flower.set_defaults(handler=run_flower)
    exporter = sub.add_parser("exporter", help="serve Prometheus metrics read from Redis")
    exporter.add_argument("--host", default="127.0.0.1")
    exporter.add_argument("--port", type=int, default=9808)
    exporter.set_defaults(handler=run_exporter)
    gateway = sub.add_parser(
        "gateway",
        help="serve OpenAI's Files and Batches API to tenants (keys: BATCHRELAY_GATEWAY_KEYS)",
    )
    gateway.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    gateway.add_argument("--port", type=int, default=8090, help="port (default 8090)")
    gateway.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="default info",
    )
    gateway.set_defaults(handler=run_gateway)
