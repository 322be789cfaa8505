"""Real Celery processes for the tests: see worker.testing."""

from worker.testing import FAST_SETTINGS, Cluster, worker_args

__all__ = ["FAST_SETTINGS", "Cluster", "worker_args"]
