"""`batchrelay emulator` / `python -m emulator`: serve the emulator with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from emulator.config import EmulatorSettings, Faults, FaultsFromEnv


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    server = parser.add_argument_group("server")
    server.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, help="port to listen on (default 8089)")
    server.add_argument(
        "--api-key", help="require this key, as a bearer token or x-api-key (default: any key)"
    )
    server.add_argument("--data-dir", type=Path, help="where file bodies live (default: temp dir)")
    server.add_argument("--seed", type=int, help="seed for every random fault decision")
    server.add_argument("--models", type=_csv, help="comma-separated models that exist")
    server.add_argument("--log-level", help="uvicorn log level (default warning)")
    timing = parser.add_argument_group("time (compressed)")
    timing.add_argument("--batch-seconds", type=float, help="in_progress -> completed (2.0)")
    timing.add_argument("--validating-seconds", type=float, help="time in validating (0.2)")
    timing.add_argument("--finalizing-seconds", type=float, help="time in finalizing (0.2)")
    timing.add_argument("--window-seconds", type=float, help="what '24h' lasts (86400)")
    timing.add_argument(
        "--file-ttl-scale", type=float, help="multiplies expires_after (1/3600: an hour is 1s)"
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-file-bytes", type=int, help="upload cap (200 MiB)")
    limits.add_argument("--max-requests", type=int, help="requests per batch (50000)")
    limits.add_argument("--max-embedding-inputs", type=int, help="embedding inputs (50000)")
    limits.add_argument(
        "--max-message-batch-requests", type=int, help="requests per Message Batch (100000)"
    )
    limits.add_argument(
        "--max-message-batch-bytes", type=int, help="body of a Message Batch create (256 MiB)"
    )
    limits.add_argument(
        "--refuse-expires-after",
        dest="accept_expires_after",
        action="store_const",
        const=False,
        help="answer uploads with expires_after 400, as providers without it do",
    )
    forward = parser.add_argument_group("forwarding to a real-time server")
    forward.add_argument("--forward-url", help="e.g. http://localhost:8000 (+ each line's url)")
    forward.add_argument("--forward-concurrency", type=int, help="requests in flight (8)")
    forward.add_argument("--forward-timeout", type=float, help="seconds per request (600)")
    forward.add_argument("--forward-api-key", help="bearer key sent upstream")
    webhooks = parser.add_argument_group("webhooks (OpenAI batches' batch.* events)")
    webhooks.add_argument("--webhook-url", metavar="URL", help="POST signed events here")
    webhooks.add_argument(
        "--webhook-secret",
        metavar="whsec_...",
        help="signing secret (or BATCHRELAY_EMULATOR_WEBHOOK_SECRET); needed with --webhook-url",
    )


def _add_rate(group: argparse._ArgumentGroup, flag: str, help: str) -> None:
    group.add_argument(flag, type=float, metavar="RATE", help=help)


def _add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    faults = parser.add_argument_group("faults (also settable at /_emulator/faults)")
    _add_rate(faults, "--http-429-rate", help="429 + retry-after on /v1 routes")
    _add_rate(faults, "--http-500-rate", help="500 on /v1 routes")
    _add_rate(faults, "--http-529-rate", help="529 overloaded_error on /v1/messages routes")
    _add_rate(faults, "--http-500-after-rate", help="500 after the route did its work")
    faults.add_argument(
        "--fault-routes",
        dest="routes",
        type=_csv,
        help="limit HTTP faults to these routes, e.g. 'POST /v1/batches,/v1/files'",
    )
    faults.add_argument("--retry-after-seconds", type=float, help="retry-after of a 429 (1.0)")
    _add_rate(faults, "--line-500-rate", help="lines answered 500")
    _add_rate(faults, "--line-429-rate", help="lines answered 429")
    _add_rate(faults, "--line-400-rate", help="lines answered 400 (permanent)")
    _add_rate(faults, "--line-error-rate", help="lines failing as error{code,message}")
    faults.add_argument("--line-error-code", help="code of those lines (server_error)")
    faults.add_argument(
        "--fault",
        choices=["token_limit_exceeded"],
        help="batches fail asynchronously with this error",
    )
    _add_rate(faults, "--fault-rate", help="share of batches given --fault (1.0)")
    faults.add_argument(
        "--expire-fraction",
        type=float,
        metavar="FRACTION",
        help="batches expire once this share of lines is done",
    )
    faults.add_argument(
        "--cancel-seconds",
        type=float,
        metavar="SECONDS",
        help="slow cancelling: a cancelled batch stays cancelling this much longer",
    )
    faults.add_argument(
        "--stuck",
        choices=["validating", "in_progress", "finalizing"],
        help="batches stay in this status until cancelled or the window ends",
    )
    _add_rate(faults, "--webhook-drop-rate", help="batches whose webhook is never sent")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_server_arguments(parser)
    _add_fault_arguments(parser)


def settings_from_args(args: argparse.Namespace) -> EmulatorSettings:
    """Flags given on the command line win over `BATCHRELAY_EMULATOR_*` env vars."""
    given: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None}
    fault_values = {k: v for k, v in given.items() if k in Faults.model_fields}
    server_values = {k: v for k, v in given.items() if k in EmulatorSettings.model_fields}
    faults = Faults.model_validate(FaultsFromEnv(**fault_values).model_dump())
    return EmulatorSettings(**server_values, faults=faults)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="batchrelay emulator",
        description="OpenAI's Files + Batches and Anthropic's Message Batches, for local runs and "
        "tests.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        print(f"batchrelay emulator: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    import uvicorn

    from emulator.app import create_app

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    app = create_app(settings)
    print(
        f"batchrelay emulator: http://{settings.host}:{settings.port}/v1 (OpenAI), "
        f"http://{settings.host}:{settings.port} (Anthropic) "
        f"(data dir {app.state.emulator.data_dir})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=3,
    )
    return 0
