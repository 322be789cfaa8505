"""Where CLI output goes: a rich console on stderr for people, stdout or a file for data."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import BinaryIO

from rich.console import Console


@cache
def console() -> Console:
    return Console(stderr=True)


@contextmanager
def open_output(path: str | None) -> Iterator[BinaryIO]:
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with open(path, "wb") as handle:
        yield handle
