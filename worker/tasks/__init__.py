"""Celery tasks, one module per step; each loads ids, calls lifecycle code, maps errors."""

from worker.tasks import collect, deliver, files, housekeeping, pack, poll, submit, tick

__all__ = ["collect", "deliver", "files", "housekeeping", "pack", "poll", "submit", "tick"]
