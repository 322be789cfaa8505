"""OpenAI's batch webhooks: a real receiver over HTTP checks every event with the `openai`
SDK's own `webhooks.unwrap`."""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.webhooks import (
    BatchCancelledWebhookEvent,
    BatchCompletedWebhookEvent,
    BatchExpiredWebhookEvent,
    BatchFailedWebhookEvent,
)
from pydantic import ValidationError

from emulator.cli import add_arguments, settings_from_args
from emulator.config import EmulatorSettings
from emulator.testing import EmulatorStartError, RunningEmulator, running_emulator
from tests.emulator.anthropic_helpers import create, requests, wait_ended
from tests.emulator.helpers import chat_lines, submit, wait_for

SECRET = "whsec_" + base64.b64encode(b"batchrelay-emulator-webhook-key!").decode()
FAST = {"batch_seconds": 0.2, "validating_seconds": 0.02, "finalizing_seconds": 0.02}
QUIET_SECONDS = 0.5
"""How long a test waits to be sure that no (further) event comes."""


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]
    answered: int
    arrived: float

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


class Receiver:
    """A webhook endpoint on a real port: records every POST and answers the statuses queued in
    `answers` first, then 200."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._changed:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    delivery = Delivery(body, dict(self.headers.items()), status, time.monotonic())
                    receiver.deliveries.append(delivery)
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/webhook"

    def of_batch(self, batch_id: str) -> list[Delivery]:
        with self._changed:
            return [d for d in self.deliveries if d.event["data"]["id"] == batch_id]

    def wait_for(self, batch_id: str, count: int = 1, timeout: float = 10.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := self.of_batch(batch_id)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} webhooks of {batch_id} came")
                self._changed.wait(left)
        return found


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture(scope="module")
def hooked_emulator(receiver: Receiver) -> Iterator[RunningEmulator]:
    with running_emulator(**FAST, webhook_url=receiver.url, webhook_secret=SECRET) as emulator:
        yield emulator


@pytest.fixture
def hooked(hooked_emulator: RunningEmulator, receiver: Receiver) -> RunningEmulator:
    """The emulator that sends webhooks to `receiver`, with no faults set."""
    hooked_emulator.reset()
    receiver.answers.clear()
    return hooked_emulator


def unwrap(delivery: Delivery, secret: str = SECRET) -> Any:
    return openai.OpenAI(api_key="x", webhook_secret=secret).webhooks.unwrap(
        delivery.body, delivery.headers
    )


def test_a_completed_batch_sends_one_signed_event(
    hooked: RunningEmulator, receiver: Receiver, tmp_path: Path
) -> None:
    client = hooked.client()
    batch = submit(client, tmp_path, chat_lines(3))
    done = wait_for(client, batch.id)
    (delivery,) = receiver.wait_for(batch.id)

    event = unwrap(delivery)
    assert isinstance(event, BatchCompletedWebhookEvent)
    assert (event.type, event.object, event.data.id) == ("batch.completed", "event", batch.id)
    assert done.status == "completed" and event.created_at == done.completed_at
    assert event.id.startswith("evt_")
    assert set(delivery.event) == {"id", "object", "type", "created_at", "data"}
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["webhook-id"].startswith("wh_")
    assert abs(int(delivery.headers["webhook-timestamp"]) - time.time()) < 5
    assert delivery.headers["webhook-signature"].startswith("v1,")
    time.sleep(QUIET_SECONDS)
    assert len(receiver.of_batch(batch.id)) == 1


@pytest.mark.parametrize(
    ("metadata", "event_type", "status"),
    [
        ({"emulator_fault": "token_limit_exceeded"}, BatchFailedWebhookEvent, "failed"),
        ({"emulator_expire_fraction": "0.5"}, BatchExpiredWebhookEvent, "expired"),
    ],
)
def test_failed_and_expired_batches_send_their_event(
    hooked: RunningEmulator,
    receiver: Receiver,
    tmp_path: Path,
    metadata: dict[str, str],
    event_type: type[Any],
    status: str,
) -> None:
    client = hooked.client()
    batch = submit(client, tmp_path, chat_lines(4), metadata=metadata)
    done = wait_for(client, batch.id)
    (delivery,) = receiver.wait_for(batch.id)

    event = unwrap(delivery)
    assert done.status == status and isinstance(event, event_type)
    assert event.type == f"batch.{status}" and event.data.id == batch.id
    assert event.created_at == getattr(done, f"{status}_at")


def test_a_cancelled_batch_sends_batch_cancelled(
    hooked: RunningEmulator, receiver: Receiver, tmp_path: Path
) -> None:
    client = hooked.client()
    batch = submit(client, tmp_path, chat_lines(4), metadata={"emulator_batch_seconds": "5"})
    client.batches.cancel(batch.id)
    done = wait_for(client, batch.id)
    (delivery,) = receiver.wait_for(batch.id)

    event = unwrap(delivery)
    assert done.status == "cancelled" and isinstance(event, BatchCancelledWebhookEvent)
    assert event.data.id == batch.id and event.created_at == done.cancelled_at


def test_a_failing_receiver_still_gets_the_event(
    hooked: RunningEmulator, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.answers[:] = [500, 500]
    client = hooked.client()
    batch = submit(client, tmp_path, chat_lines(2))

    first, second, third = receiver.wait_for(batch.id, count=3)

    assert [d.answered for d in (first, second, third)] == [500, 500, 200]
    assert len({d.headers["webhook-id"] for d in (first, second, third)}) == 1
    assert first.body == second.body == third.body
    assert second.arrived - first.arrived >= 0.18 and third.arrived - second.arrived >= 0.38
    assert isinstance(unwrap(third), BatchCompletedWebhookEvent)
    time.sleep(QUIET_SECONDS)
    assert len(receiver.of_batch(batch.id)) == 3


def test_a_tampered_body_or_a_wrong_secret_fails_unwrap(
    hooked: RunningEmulator, receiver: Receiver, tmp_path: Path
) -> None:
    batch = submit(hooked.client(), tmp_path, chat_lines(1))
    (delivery,) = receiver.wait_for(batch.id)
    tampered = Delivery(
        delivery.body.replace(b"batch.completed", b"batch.cancelled"),
        delivery.headers,
        delivery.answered,
        delivery.arrived,
    )

    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(tampered)
    other_secret = "whsec_" + base64.b64encode(b"another-key").decode()
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(delivery, secret=other_secret)
    assert isinstance(unwrap(delivery), BatchCompletedWebhookEvent)


def test_webhook_drop_rate_sends_nothing(
    hooked: RunningEmulator, receiver: Receiver, tmp_path: Path
) -> None:
    assert hooked.set_faults(webhook_drop_rate=1.0)["webhook_drop_rate"] == 1.0
    client = hooked.client()
    dropped = submit(client, tmp_path, chat_lines(2), name="dropped.jsonl")
    kept = submit(client, tmp_path, chat_lines(2), metadata={"emulator_webhook_drop_rate": "0"})

    receiver.wait_for(kept.id)
    assert wait_for(client, dropped.id).status == "completed"
    time.sleep(QUIET_SECONDS)
    assert receiver.of_batch(dropped.id) == []


def test_message_batches_send_no_webhooks(hooked: RunningEmulator, receiver: Receiver) -> None:
    client = hooked.anthropic_client()
    batch = create(client, requests(2))
    wait_ended(client, batch.id)
    time.sleep(QUIET_SECONDS)
    assert receiver.of_batch(batch.id) == []


def test_info_shows_the_url_but_not_the_secret(hooked: RunningEmulator, receiver: Receiver) -> None:
    settings = hooked.info()["settings"]
    assert settings["webhook_url"] == receiver.url
    assert "webhook_secret" not in settings


def test_a_url_without_a_secret_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHRELAY_EMULATOR_WEBHOOK_SECRET", raising=False)
    with (
        pytest.raises(EmulatorStartError, match="--webhook-url needs --webhook-secret"),
        running_emulator(webhook_url="http://127.0.0.1:9/webhook"),
    ):
        pass


def test_the_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHRELAY_EMULATOR_WEBHOOK_SECRET", SECRET)
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    settings = settings_from_args(parser.parse_args(["--webhook-url", "http://hooks/batch"]))

    assert (settings.webhook_url, settings.webhook_secret) == ("http://hooks/batch", SECRET)


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("http://hooks/batch", "not-a-whsec-secret"),
        ("http://hooks/batch", "whsec_not base64!"),
        ("ftp://hooks/batch", SECRET),
    ],
)
def test_bad_webhook_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, url: str, secret: str
) -> None:
    monkeypatch.delenv("BATCHRELAY_EMULATOR_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ValidationError):
        EmulatorSettings(webhook_url=url, webhook_secret=secret)
