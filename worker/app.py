"""The Celery app: ``celery -A worker.app worker`` and ``celery -A worker.app flower`` work."""

from __future__ import annotations

from producers.extras import require

require("worker", "worker.app (the Celery app)")

from celery import Celery

from producers.settings import Settings
from worker import broker
from worker.config import celery_config
from worker.logs import hook_celery_logging

broker.register()
app = Celery("batchrelay", include=["worker.tasks"])
app.config_from_object(celery_config(Settings()))
hook_celery_logging()
