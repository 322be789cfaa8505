"""The `batchrelay` command.

Its subcommands need the 'worker' extra (the emulator's, 'emulator'; the gateway's, 'gateway');
without it, the command says which extra to install instead of failing with a traceback, so
the modules behind the subcommands are imported only once this module runs.
"""

from __future__ import annotations

import argparse
import sys

from redis.exceptions import RedisError

from producers.connection import safe_url
from producers.errors import BatchrelayError
from producers.extras import MissingExtra, require
from producers.settings import Settings


def parser() -> argparse.ArgumentParser:
    require("worker", "the batchrelay command")
    from worker.cli.batches import add_batch_parsers
    from worker.cli.demo import add_demo_parser
    from worker.cli.items import add_item_parsers
    from worker.cli.roles import add_role_parsers
    from worker.cli.stack import add_arguments as add_up_arguments
    from worker.cli.stack import run_up

    root = argparse.ArgumentParser(
        prog="batchrelay",
        description="Queue LLM requests in Redis; Celery workers run them as OpenAI batches.",
    )
    sub = root.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up", help="run Redis (if none), the emulator (if no key), worker, beat, Flower"
    )
    add_up_arguments(up)
    up.set_defaults(handler=run_up)
    add_demo_parser(sub)
    add_role_parsers(sub)
    sub.add_parser(
        "emulator",
        help="run the Batch API emulator (see `batchrelay emulator --help`)",
        add_help=False,
    )
    add_item_parsers(sub)
    add_batch_parsers(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    try:
        if args_list[:1] == ["emulator"]:
            from emulator.cli import main as emulator_main

            return emulator_main(args_list[1:])
        root = parser()
    except (MissingExtra, BatchrelayError) as error:
        print(f"batchrelay: {error}", file=sys.stderr)
        return 2
    args, extra = root.parse_known_args(args_list)
    if extra and args.command not in ("worker", "beat", "flower"):
        root.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.handler(args))
    except BatchrelayError as error:
        print(f"batchrelay: {error}", file=sys.stderr)
        return 2
    except RedisError as error:
        url = safe_url(Settings().redis_url)
        print(
            f"batchrelay: cannot use Redis at {url} (BATCHRELAY_REDIS_URL): {error}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
