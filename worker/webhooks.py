"""Signed webhook delivery with an SSRF guard: no private targets unless allowlisted, no
redirects, bounded time and response size."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from producers.errors import DeliveryFailed, WebhookRefused
from producers.settings import Settings
from producers.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _allowed(host: str, address: Address, allow: list[str]) -> bool:
    for entry in allow:
        if entry.lower() == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_target(url: str, allow: list[str]) -> None:
    """Refuse URLs that resolve to private, loopback, link-local or reserved addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(f"webhook URL must be http(s) with a host: {url[:100]!r}")
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise DeliveryFailed(
            f"webhook host {host!r} does not resolve: {error}", retryable=True
        ) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        public = not (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        )
        if not public and not _allowed(host, address, allow):
            raise WebhookRefused(
                f"webhook host {host!r} resolves to non-public {address}; "
                "add it to BATCHRELAY_WEBHOOK_ALLOW to permit it"
            )


class WebhookSender:
    """POSTs result JSON signed with HMAC-SHA256 (see producers.signing.verify_signature)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        timeout = httpx.Timeout(
            settings.webhook_timeout, connect=min(5.0, settings.webhook_timeout)
        )
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)

    def send(self, url: str, body: bytes, idempotency_key: str, headers: dict[str, str]) -> None:
        check_target(url, self.settings.webhook_allow)
        sent = {
            **headers,
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: idempotency_key,
            "User-Agent": "batchrelay-webhook/1",
        }
        if self.settings.webhook_secret is not None:
            sent[SIGNATURE_HEADER] = sign(self.settings.webhook_secret.get_secret_value(), body)
        try:
            with self.client.stream("POST", url, content=body, headers=sent) as response:
                received = 0
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    if received > self.settings.webhook_max_response_bytes:
                        break
                status = response.status_code
        except httpx.HTTPError as error:
            raise DeliveryFailed(
                f"webhook {urlsplit(url).hostname}: {type(error).__name__}", retryable=True
            ) from None
        if 200 <= status < 300:
            return
        # Redirects are never followed (they could lead to an internal address) nor retried.
        retryable = status in (408, 409, 425, 429) or status >= 500
        raise DeliveryFailed(
            f"webhook {urlsplit(url).hostname} answered HTTP {status}", retryable=retryable
        )

    def close(self) -> None:
        self.client.close()
