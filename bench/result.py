"""What one benchmark reports: a ratio against its in-run baseline, absolutes and a verdict."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Timings:
    """Wall-clock seconds of repeated runs of one side (subject or baseline) over ``items``."""

    items: int
    seconds: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        """The fastest run: other load on the machine only ever slows a run down."""
        return min(self.seconds)

    @property
    def rate(self) -> float:
        """Items per second of the fastest run."""
        return self.items / self.best

    def summary(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "best_s": round(self.best, 4),
            "runs_s": [round(s, 4) for s in self.seconds],
            "items_per_s": round(self.rate, 1),
        }


@dataclass
class Result:
    """One benchmark's figure.

    ``ratio`` is the figure and ``ratio_of`` says what it divides; ``target`` is the ratio it
    must reach (None when the verdict rests on something else), ``goal`` the verdict's rule in
    words, ``ok`` the verdict (None when only reported), ``absolute`` the raw numbers.
    """

    name: str
    ratio: float
    ratio_of: str
    target: float | None
    goal: str
    ok: bool | None
    absolute: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = round(self.ratio, 4)
        return out


def throughput_result(
    name: str, subject: Timings, baseline: Timings, target: float, ratio_of: str, **extra: Any
) -> Result:
    """A ratio of items/s (subject over baseline), best run against best run."""
    ratio = subject.rate / baseline.rate
    absolute = {"subject": subject.summary(), "baseline": baseline.summary(), **extra}
    goal = f"ratio >= {target:.2f}"
    return Result(name, ratio, ratio_of, target, goal, ratio >= target, absolute)


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` takes."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start
