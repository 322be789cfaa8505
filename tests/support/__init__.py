"""Helpers shared by the tests: a real Redis, real Celery processes, waiting."""
