"""Bearer-key auth: the FastAPI dependency naming the tenant a request comes from.

The tenants and their keys come from BATCHRELAY_GATEWAY_KEYS (gateway.config.load_tenants, kept
as ``app.state.tenants``). A request's key is hashed and compared, in constant time, with every
tenant's digest. Keys are never logged: a rejected one appears only as the first 12 hex digits
of its SHA-256.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request

from gateway.config import Tenants, key_digest
from gateway.errors import GatewayError

log = logging.getLogger("batchrelay.gateway")

LOGGED_DIGEST_CHARS = 12


def _unauthorized(message: str) -> GatewayError:
    return GatewayError(401, message, "invalid_request_error", None, "invalid_api_key")


def bearer_key(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def tenant(request: Request) -> str:
    """The FastAPI dependency: the tenant whose key the request carries, else a 401 (async:
    a hash is cheaper than the hop to a worker thread)."""
    key = bearer_key(request)
    if key is None:
        raise _unauthorized(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    tenants: Tenants = request.app.state.tenants
    found = tenants.identify(key)
    if found is None:
        log.warning(
            "rejected an API key (sha256 %s) on %s %s",
            key_digest(key).hex()[:LOGGED_DIGEST_CHARS],
            request.method,
            request.url.path,
        )
        raise _unauthorized(
            "Incorrect API key provided. Use the key this gateway gave your tenant."
        )
    return found


Tenant = Annotated[str, Depends(tenant)]
"""A route parameter ``tenant: Tenant`` is the authenticated tenant's name."""
