"""Waiting for a condition with a deadline: see worker.testing."""

from worker.testing import wait_for

__all__ = ["wait_for"]
