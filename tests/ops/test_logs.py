"""Structured logs: JSON lines from worker and beat with ids attached, secrets never written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from producers import Callback, Producer
from tests.ops.conftest import CELERY, Services
from tests.support.inspect import finished
from tests.support.items import chat
from tests.support.waiting import wait_for

FAKE_KEY = "sk-test-FAKEKEY-1234567890"
WEBHOOK_SECRET = "whsec-ops-test-3141592653"


# A log record in a text format: Celery's "[2026-11-28 16:35:41,520: INFO/MainProcess] ..."
# or logging's "2026-11-28 16:35:41,520 INFO name: ...".
TEXT_RECORD = re.compile(r"^\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


def records(text: str, strict: bool = False) -> list[dict[str, Any]]:
    """Every log record of a log as a JSON object. Lines written around logging (a Python
    warning before logging is set up, Celery's shutdown notice) are allowed unless
    ``strict``, but none of them may be a text-format log record."""
    out = []
    for line in text.splitlines():
        if line.startswith("{") or (strict and line.strip()):
            entry = json.loads(line)
            assert {"ts", "level", "logger", "message"} <= set(entry), line
            out.append(entry)
        else:
            assert not TEXT_RECORD.match(line), line
    return out


def test_worker_and_beat_log_json_with_ids_and_no_secrets(
    services: Services, producer: Producer, worker_env: dict[str, str]
) -> None:
    env = {
        **worker_env,
        "BATCHRELAY_LOG_JSON": "1",
        "OPENAI_API_KEY": FAKE_KEY,
        "BATCHRELAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BATCHRELAY_WEBHOOK_MAX_TRIES": "2",
    }
    services.worker("jw", env)
    services.start("jbeat", [*CELERY, "beat", "--loglevel", "INFO"], env)
    ids = [f"j{n}" for n in range(4)]
    # A webhook host that leaks the key into a log line (DNS fails, the worker logs the host).
    hook = Callback.webhook(f"http://{FAKE_KEY}.invalid/hook")
    producer.submit_many([chat(i) for i in ids] + [chat("jhook", callback=hook)])
    wait_for(lambda: finished(producer, ids), 60, "items delivered")
    # Wait for the failure record itself: "jhook" shows up earlier in a task's received args.
    wait_for(
        lambda: any(r.get("item_id") == "jhook" for r in records(services.log("jw"))),
        30,
        "the webhook failure logged",
    )
    services.stop_all()

    worker, beat = records(services.log("jw")), records(services.log("jbeat"))
    assert worker and beat
    assert any(r["logger"] == "celery.beat" for r in beat)
    assert any(r.get("batch_id", "").startswith("brb-") for r in worker)
    assert any(r.get("task", "").startswith("batchrelay.") and r.get("task_id") for r in worker)
    hook_lines = [r for r in worker if r.get("item_id") == "jhook"]
    assert hook_lines and all("***" in r["message"] for r in hook_lines), hook_lines
    for text in (services.log("jw"), services.log("jbeat")):
        assert FAKE_KEY.lower() not in text.lower()
        assert WEBHOOK_SECRET not in text


SCRIPT = """
import logging, os
from worker.logs import ids, setup_logging
setup_logging()
log = logging.getLogger("batchrelay.check")
key = os.environ["OPENAI_API_KEY"]
log.info("batch %s: using %s", "brb-0123456789ab-65f0a1b2c3", key)
log.info("plain %s", os.environ["BATCHRELAY_WEBHOOK_SECRET"], extra=ids(item_id="it-1"))
log.info("redis at %s", "redis://:hunter2pass@db:6379/0", extra={"note": "key " + key})
try:
    raise RuntimeError("failed with " + key)
except RuntimeError:
    log.exception("boom")
log.info("bad format %d", "not a number")
"""


def test_setup_logging_in_a_plain_process(plain_env: dict[str, str]) -> None:
    env = {
        **plain_env,
        "BATCHRELAY_LOG_JSON": "1",
        "OPENAI_API_KEY": FAKE_KEY,
        "BATCHRELAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    lines = records(done.stderr, strict=True)
    assert [r["level"] for r in lines] == ["INFO", "INFO", "INFO", "ERROR", "INFO"]
    assert lines[0]["batch_id"] == "brb-0123456789ab-65f0a1b2c3"
    assert lines[0]["message"].endswith("using ***")
    assert lines[1]["item_id"] == "it-1" and lines[1]["message"] == "plain ***"
    assert lines[2]["message"] == "redis at redis://:***@db:6379/0"
    assert lines[2]["note"] == "key ***"
    assert "RuntimeError: failed with ***" in lines[3]["exc"]
    assert "not a number" in lines[4]["message"]
    for secret in (FAKE_KEY, WEBHOOK_SECRET, "hunter2pass"):
        assert secret not in done.stderr
