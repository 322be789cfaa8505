"""Running the `batchrelay` command as a user does, in a subprocess."""

from __future__ import annotations

import subprocess
import sys

CLI = [sys.executable, "-m", "worker.cli"]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
