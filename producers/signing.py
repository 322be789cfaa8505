"""Webhook signatures: HMAC-SHA256 over ``timestamp.body``, with a replay window."""

from __future__ import annotations

import hashlib
import hmac
import time

from producers.errors import InvalidSignature

SIGNATURE_HEADER = "X-Batchrelay-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE = 300.0


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for ``body``: ``t=<unix seconds>,v1=<hex hmac>``."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_signature(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check a received webhook; raise InvalidSignature unless it is ours and fresh.

    Receivers call this with the raw request body and the X-Batchrelay-Signature header.
    A timestamp older (or newer) than ``tolerance`` seconds is refused, which bounds replays.
    """
    if not header:
        raise InvalidSignature("missing signature header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise InvalidSignature("malformed signature header") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise InvalidSignature(f"signature timestamp outside the {tolerance:.0f}s window")
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise InvalidSignature("signature does not match")
