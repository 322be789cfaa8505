"""A small-N regression guard for the micro benchmarks of bench/ (seconds, not minutes).

Each benchmark runs at a small N against its in-run baseline and fails only on a gross
regression: a ratio 3x worse than the lower of its target and today's figure. Today's code
meets every target at full size, so each floor is target / 3; at guard size the submits and
collect sit near their targets (0.45-0.62, 0.48-0.52 and 0.24-0.29 over three runs).

The 200 MB memory and the 100k end-to-end benchmarks are left to ``python -m bench``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.collecting import run_collect
from bench.packing import run_pack
from bench.redis_target import RedisTarget, redis_target
from bench.report import line
from bench.result import Result
from bench.submitting import run_submit_many, run_submit_one

pytestmark = pytest.mark.slow  # benchmarks at guard size

REPEATS = 3
# name: (target of the full benchmark, today's ratio at guard size on the 2-core dev machine)
FIGURES = {
    "submit_many": (0.50, 0.50),
    "submit_one": (0.50, 0.50),
    "pack": (0.50, 0.95),
    "collect": (0.25, 0.27),
}


def floor(name: str) -> float:
    target, today = FIGURES[name]
    return min(target, today) / 3


@pytest.fixture(scope="module")
def target() -> Iterator[RedisTarget]:
    """A private redis-server, so other tests' load and flushes cannot touch the figures."""
    with redis_target() as running:
        yield running


def check(result: Result) -> None:
    print(line(result))
    assert result.ratio >= floor(result.name), (
        f"{result.name}: ratio {result.ratio:.3f} fell below the regression floor "
        f"{floor(result.name):.3f} ({result.ratio_of}): {result.absolute}"
    )


@pytest.mark.timeout(120)
def test_submit_many_guard(target: RedisTarget) -> None:
    check(run_submit_many(target, 5_000, REPEATS))


@pytest.mark.timeout(120)
def test_submit_one_guard(target: RedisTarget) -> None:
    check(run_submit_one(target, 500, REPEATS))


@pytest.mark.timeout(120)
def test_pack_guard(target: RedisTarget) -> None:
    result = run_pack(target, 5_000, REPEATS)
    check(result)
    assert result.absolute["subject"]["items"] == 5_000


@pytest.mark.timeout(120)
def test_collect_guard(target: RedisTarget) -> None:
    check(run_collect(target, 5_000, REPEATS))
