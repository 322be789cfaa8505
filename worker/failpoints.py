"""Crash points for the crash-safety tests: SIGKILL this worker at a named step, once.

BATCHRELAY_FAILPOINT=<name>:<marker path> makes the first process that reaches ``name`` create
the marker file and SIGKILL its whole process group (the Celery worker and its pool), the
way an OOM kill or a node loss would. Unset (always, outside tests), a failpoint costs one
dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ENV = "BATCHRELAY_FAILPOINT"


def failpoint(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    wanted, _, marker = spec.partition(":")
    if wanted != name or not marker:
        return
    try:
        Path(marker).touch(exist_ok=False)
    except FileExistsError:
        return
    os.killpg(os.getpgrp(), signal.SIGKILL)
