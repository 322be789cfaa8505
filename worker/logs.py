"""Structured logs and secret redaction for every batchrelay process.

With BATCHRELAY_LOG_JSON=1 each log line is one JSON object: ts, level, logger, message,
and the ids the record carries (batch_id, item_id, task, task_id, ...). Pass ids as extras:

    log.info("batch %s: created %s", batch_id, provider_id, extra=ids(batch_id=batch_id))

A record without extras still gets batch_id when one of its arguments is one of our batch
ids, and item_id when its message starts with "item %s". Redaction is always on: the values
of OPENAI_API_KEY, ANTHROPIC_API_KEY, every provider's key variable, BATCHRELAY_WEBHOOK_SECRET
and BATCHRELAY_FLOWER_BASIC_AUTH, anything like
``sk-...`` and passwords in URLs are masked in messages, arguments, extras and tracebacks.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from celery._state import get_current_task

from producers.errors import BatchrelayError
from producers.settings import Settings

MASK = "***"
MIN_SECRET = 4
MAX_EXTRA = 1000
KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_-]{8,}")
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@")
BATCH_ID = re.compile(r"^brb-[0-9a-f]{12}-[0-9a-f]+$")
STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def ids(*, batch_id: str | None = None, item_id: str | None = None) -> dict[str, str]:
    """The ``extra=`` mapping naming a record's batch and/or item."""
    out = {"batch_id": batch_id, "item_id": item_id}
    return {k: v for k, v in out.items() if v}


def secrets_of(settings: Settings) -> list[str]:
    """The secret values this process must never log."""
    values = [os.environ.get("OPENAI_API_KEY", ""), os.environ.get("ANTHROPIC_API_KEY", "")]
    try:
        key_envs = [p.key_env for p in settings.provider_config().providers.values()]
    except BatchrelayError:  # said at start, by the role itself
        key_envs = []
    values += [os.environ.get(name, "") for name in key_envs]
    for secret in (settings.webhook_secret, settings.flower_basic_auth):
        if secret is not None:
            values.append(secret.get_secret_value())
    return [v for v in values if len(v) >= MIN_SECRET]


class RedactingFilter(logging.Filter):
    """Masks secrets in the formatted message, extras and traceback of every record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = KEY_PATTERN.sub(MASK, text)
        return URL_PASSWORD.sub(rf"\1{MASK}@", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break logging
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in STANDARD and isinstance(value, str | dict):
                setattr(record, key, self._redact_value(value))
        return True

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):  # e.g. Celery's `data` (task args, return value)
            return {k: self._redact_value(v) for k, v in value.items()}
        return value


class ContextFilter(logging.Filter):
    """Adds batch_id / item_id found in the arguments, and the running Celery task."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if not getattr(record, "batch_id", None):
            found = next((a for a in args if isinstance(a, str) and BATCH_ID.match(a)), None)
            if found:
                record.batch_id = found
        if (
            not getattr(record, "item_id", None)
            and args
            and isinstance(record.msg, str)
            and record.msg.startswith("item %s")
        ):
            record.item_id = str(args[0])
        task = get_current_task()
        if task is not None and not getattr(record, "task_id", None):
            record.task = getattr(task, "name", None)
            record.task_id = getattr(task.request, "id", None)
        return True


def _clip(value: Any) -> Any:
    """Bound extras (Celery puts a task's args in `data`) so one record stays one short line."""
    if isinstance(value, str) and len(value) > MAX_EXTRA:
        return value[:MAX_EXTRA] + "..."
    if isinstance(value, dict):
        return {k: _clip(v) for k, v in value.items()}
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in STANDARD and not key.startswith("_") and value is not None:
                entry[key] = _clip(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        try:
            return orjson.dumps(entry, default=str).decode()
        except TypeError:
            return orjson.dumps({k: str(v) for k, v in entry.items()}).decode()


def configure_logger(logger: logging.Logger, settings: Settings) -> None:
    """Give every handler of ``logger`` our filters (and the JSON format when enabled)."""
    logging.captureWarnings(True)
    secrets = secrets_of(settings)
    for handler in logger.handlers:
        if settings.log_json:
            handler.setFormatter(JsonFormatter())
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
        for f in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(f)
        handler.addFilter(RedactingFilter(secrets))


def setup_logging(settings: Settings | None = None, level: int | str = logging.INFO) -> None:
    """Configure the root logger of a process that is not a Celery worker or beat."""
    settings = settings or Settings()
    root = logging.getLogger()
    if not any(not isinstance(h, logging.NullHandler) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    configure_logger(root, settings)


def _on_celery_logger(logger: logging.Logger | None = None, **_: Any) -> None:
    from celery.utils.log import get_multiprocessing_logger

    settings = Settings()
    for target in (logger, get_multiprocessing_logger()):
        if target is not None:
            configure_logger(target, settings)


def hook_celery_logging() -> None:
    """Apply configure_logger to the loggers Celery sets up in workers and beat."""
    from celery.signals import after_setup_logger, after_setup_task_logger

    after_setup_logger.connect(_on_celery_logger, weak=False)
    after_setup_task_logger.connect(_on_celery_logger, weak=False)
