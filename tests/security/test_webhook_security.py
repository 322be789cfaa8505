"""Webhook targets and signatures: no SSRF, no redirects followed, bounded responses, replay
window enforced by the receivers' helper."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from redis import Redis

from producers import Callback, InvalidSignature, Producer, verify_signature
from producers.errors import DeliveryFailed, WebhookRefused
from producers.settings import Settings
from producers.signing import sign
from tests.support.cluster import Cluster
from tests.support.waiting import wait_for
from worker.webhooks import WebhookSender, check_target


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.8/hook",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://0.0.0.0/",
        "http://[fe80::1]/",
        "file:///etc/passwd",
        "http:///nohost",
    ],
)
def test_private_loopback_and_link_local_targets_are_refused(url: str) -> None:
    with pytest.raises(WebhookRefused):
        check_target(url, [])


def test_allowlist_opens_exactly_what_it_names() -> None:
    check_target("http://127.0.0.1:9/hook", ["127.0.0.0/8"])
    check_target("http://10.1.2.3/", ["10.1.2.3"])
    with pytest.raises(WebhookRefused):
        check_target("http://10.1.2.4/", ["10.1.2.3"])


@contextmanager
def answering(
    status: int, headers: dict[str, str], body: bytes
) -> Iterator[tuple[str, list[str], list[int]]]:
    """A server answering every POST with ``body``, sent in 64 KB pieces; yields its URL, the
    paths it was asked for, and how many body bytes each answer got out before the client hung
    up."""
    seen: list[str] = []
    sent: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            written = 0
            try:
                for start in range(0, len(body), 65536):
                    self.wfile.write(body[start : start + 65536])
                    written += len(body[start : start + 65536])
            except OSError:
                pass  # the client closed the connection
            sent.append(written)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen, sent
    finally:
        server.shutdown()
        server.server_close()


def test_redirects_are_not_followed_and_not_retried(redis_url: str) -> None:
    sender = WebhookSender(Settings(redis_url=redis_url, webhook_allow=["127.0.0.1"]))
    redirect = {"Location": "http://169.254.169.254/"}
    with answering(302, redirect, b"") as (url, seen, _), pytest.raises(DeliveryFailed) as caught:
        sender.send(f"{url}/hook", b"{}", "k:1", {})
    assert not caught.value.retryable and seen == ["/hook"]


def test_a_huge_response_is_not_read_whole(redis_url: str) -> None:
    sender = WebhookSender(Settings(redis_url=redis_url, webhook_allow=["127.0.0.1"]))
    with answering(200, {}, b"x" * 20_000_000) as (url, _, sent):
        started = time.monotonic()
        sender.send(f"{url}/hook", b"{}", "k:1", {})
        wait_for(lambda: sent, 10, "the server to notice the hang-up")
    assert time.monotonic() - started < 5
    # The client stopped after its cap: what got out is the cap plus socket buffers, not 20 MB.
    assert sent[0] < 10_000_000, sent


def test_signatures_refuse_tampering_staleness_and_garbage() -> None:
    body = b'{"id":"a"}'
    header = sign("s3cret", body)
    verify_signature("s3cret", body, header)
    for bad_body, bad_header, secret in [
        (b'{"id":"b"}', header, "s3cret"),
        (body, header, "other"),
        (body, sign("s3cret", body, int(time.time()) - 301), "s3cret"),
        (body, "garbage", "s3cret"),
        (body, None, "s3cret"),
    ]:
        with pytest.raises(InvalidSignature):
            verify_signature(secret, bad_body, bad_header)


def test_unallowed_webhook_is_dead_lettered_with_its_reason(
    cluster: Cluster, producer: Producer, redis: Redis
) -> None:
    cluster.worker(extra_env={"BATCHRELAY_WEBHOOK_ALLOW": "[]"})
    cluster.beat()
    producer.submit(
        {
            "id": "ssrf",
            "body": {"model": "gpt-4o-mini", "messages": []},
            "callback": Callback.webhook("http://169.254.169.254/latest/meta-data/"),
        }
    )
    wait_for(lambda: producer.status("ssrf").state == "delivered", 60, "delivery settled")
    raw = redis.hget(producer.locate("ssrf").item("ssrf"), "delivery_error") or b""
    assert b"webhook_failed" in raw and b"non-public" in raw
    assert producer.result("ssrf") is not None  # the Redis result is kept all the same
