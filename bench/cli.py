"""``python -m bench [--quick] [--only NAME ...] [--redis-url URL] [--profile] [--check]``."""

from __future__ import annotations

import argparse
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.collecting import run_collect, run_collect_anthropic
from bench.endtoend import run_end_to_end
from bench.gateway import run_gateway, run_gateway_memory
from bench.machine import machine, machine_line
from bench.memory import run_memory
from bench.packing import run_pack
from bench.profiling import profile_all
from bench.redis_target import RedisTarget, redis_target
from bench.replication import run_replicated_submit
from bench.report import line, write_summary
from bench.result import Result
from bench.submitting import run_async_submit_many, run_submit_many, run_submit_one

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Sizes:
    submit_many: int
    submit_one: int
    pack: int
    collect: int
    memory_lines: int
    end_to_end: int
    gateway: int
    gateway_memory_bytes: int
    repeats: int
    short_repeats: int  # pack and collect run for a tenth of a second or so: noise weighs more
    profile: int


FULL = Sizes(100_000, 10_000, 50_000, 50_000, 50_000, 100_000, 50_000, 10**9, 3, 7, 50_000)
QUICK = Sizes(10_000, 1_000, 10_000, 10_000, 5_000, 4_000, 5_000, 50 * 10**6, 2, 2, 10_000)


def benchmarks(sizes: Sizes) -> dict[str, Callable[[RedisTarget], Result | list[Result]]]:
    r, short = sizes.repeats, sizes.short_repeats
    return {
        "submit_many": lambda t: run_submit_many(t, sizes.submit_many, r),
        "submit_one": lambda t: run_submit_one(t, sizes.submit_one, r),
        "async_submit_many": lambda t: run_async_submit_many(t, sizes.submit_many, r),
        "submit_many_replicated": lambda _target: run_replicated_submit(sizes.submit_many, r),
        "pack": lambda t: run_pack(t, sizes.pack, short),
        "collect": lambda t: run_collect(t, sizes.collect, short),
        "collect_anthropic": lambda t: run_collect_anthropic(t, sizes.collect, short),
        "collect_memory": lambda t: run_memory(t, sizes.memory_lines),
        "end_to_end": lambda t: run_end_to_end(t, sizes.end_to_end),
        "gateway": lambda t: run_gateway(t, sizes.gateway, r),
        "gateway_memory": lambda t: run_gateway_memory(t, sizes.gateway_memory_bytes),
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N (seconds, not minutes)")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=list(benchmarks(QUICK)),
        help="run only these benchmarks",
    )
    parser.add_argument(
        "--redis-url", help="use db 12 of this Redis (default: a private redis-server)"
    )
    parser.add_argument(
        "--repeats", type=int, help="runs of each micro benchmark (the best one counts)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="summary path (default bench/results/latest.json; quick.json with --quick or --only)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile submit_many, pack and collect with pyinstrument instead",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a figure misses its target"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    sizes = QUICK if args.quick else FULL
    if args.repeats:
        sizes = Sizes(**{**asdict(sizes), "repeats": args.repeats, "short_repeats": args.repeats})
    started = time.perf_counter()
    with redis_target(args.redis_url) as target:
        info = machine(target.version())
        print(f"machine: {machine_line(info)}", flush=True)
        if args.profile:
            for text in profile_all(target, sizes.profile, RESULTS):
                print(text, flush=True)
            print(f"profiles written to {RESULTS}/profile-*.txt|html")
            return 0
        chosen = {k: v for k, v in benchmarks(sizes).items() if not args.only or k in args.only}
        results: list[dict[str, Any]] = []
        errors = 0
        for name, bench in chosen.items():
            t0 = time.perf_counter()
            try:
                outcome = bench(target)
            except Exception:
                errors += 1
                print(f"{name:<15} ERROR\n{traceback.format_exc()}", flush=True)
                results.append({"name": name, "error": traceback.format_exc()[-4000:]})
                continue
            finally:
                target.flush()
            wall = round(time.perf_counter() - t0, 1)
            for result in outcome if isinstance(outcome, list) else [outcome]:
                results.append({**result.to_json(), "wall_s": wall})
                print(line(result), flush=True)
    duration = time.perf_counter() - started
    summary = {
        "mode": "quick" if args.quick else "full",
        "sizes": asdict(sizes),
        "machine": info,
        "duration_s": round(duration, 1),
        "results": results,
    }
    # Only a full run replaces the figures the README quotes.
    partial = args.quick or args.only
    output = args.output or RESULTS / ("quick.json" if partial else "latest.json")
    write_summary(output, summary)
    print(f"total {duration:.0f} s; summary written to {output}")
    if errors:
        return 2
    missed = [r["name"] for r in results if r.get("ok") is False]
    return 1 if args.check and missed else 0


def main(argv: list[str] | None = None) -> int:
    return run(parse(argv))
