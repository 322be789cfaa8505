"""Printing results as they come and writing the machine-readable summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.result import Result

VERDICT = {True: "ok", False: "MISS", None: "--"}
INDENT = " " * 16
MEMORY_KEYS = ("file_mb", "rss_before_mb", "rss_peak_mb", "growth_mb", "collect_s", "items_per_s")


def _side(side: dict[str, Any]) -> str:
    return f"{side['items_per_s']:>11,.0f} items/s ({side['best_s']:.3f} s for {side['items']:,})"


def _details(absolute: dict[str, Any]) -> list[str]:
    if "subject" in absolute:
        out = [f"subject  {_side(absolute['subject'])}", f"baseline {_side(absolute['baseline'])}"]
        if "timeline_s" in absolute:
            steps = absolute["timeline_s"].items()
            out.append("timeline " + ", ".join(f"{k}={v}" for k, v in steps))
        return out
    keys = [k for k in MEMORY_KEYS if k in absolute] or list(absolute)
    return [", ".join(f"{k}={absolute[k]}" for k in keys)]


def line(result: Result) -> str:
    head = f"{result.name:<15} ratio {result.ratio:6.3f}  {VERDICT[result.ok]:<4} [{result.goal}]"
    rows = [head, *(INDENT + row for row in _details(result.absolute))]
    return "\n".join(rows)


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")
