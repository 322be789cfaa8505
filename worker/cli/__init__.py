"""The `batchrelay` command line."""

from worker.cli.main import main

__all__ = ["main"]
