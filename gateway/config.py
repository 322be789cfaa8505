"""The gateway's settings, checked before it starts: BATCHRELAY_* values, and the tenants and
their API keys from BATCHRELAY_GATEWAY_KEYS.

That setting is JSON, tenant name -> its key, or ``sha256:<64 hex>`` of the key so the key
itself need not be deployed: ``{"acme": "sk-...", "globex": "sha256:9f86d0..."}``. Every
problem is one ConfigurationError line that names the tenant or the setting, never a key.
This module imports no web framework, so the CLI says what is wrong at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from producers.errors import ConfigurationError
from producers.settings import Settings

SETTING = "BATCHRELAY_GATEWAY_KEYS"
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
SHA256_PREFIX = "sha256:"
SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


def load_settings() -> Settings:
    """Settings from the environment; a bad value is one ConfigurationError line, without
    the value (it may be a secret)."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = "BATCHRELAY_" + "_".join(str(part) for part in first["loc"]).upper()
        raise ConfigurationError(f"{name}: {first['msg']}") from None


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class Tenants:
    """Every tenant and the SHA-256 digest of its key."""

    digests: tuple[tuple[str, bytes], ...]
    plain_keys: tuple[str, ...] = field(default=(), repr=False)
    """The keys configured as themselves (not as digests), for log redaction."""

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.digests]

    def identify(self, key: str) -> str | None:
        """The tenant whose key this is, or None; every tenant is compared, match or not, so
        the time taken says nothing about which digest came close."""
        presented = key_digest(key)
        found = None
        for name, digest in self.digests:
            if hmac.compare_digest(presented, digest):
                found = name
        return found


def _config(settings: Settings) -> dict[str, object]:
    if settings.gateway_keys is None or not settings.gateway_keys.get_secret_value().strip():
        raise ConfigurationError(
            f'{SETTING} is not set: the gateway needs at least one tenant, as JSON {{"<tenant>": '
            '"<key>" or "sha256:<hex of the key\'s SHA-256>"}'
        )
    try:
        config = json.loads(settings.gateway_keys.get_secret_value())
    except json.JSONDecodeError as error:
        # Only the position: the message of a JSON error may quote the secret text.
        raise ConfigurationError(
            f"{SETTING} is not valid JSON (line {error.lineno} column {error.colno})"
        ) from None
    if not isinstance(config, dict) or not config:
        raise ConfigurationError(
            f'{SETTING} must be a non-empty JSON object {{"<tenant>": "<key>", ...}}'
        )
    return config


def _digest_of(tenant: str, value: object) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{SETTING}: tenant {tenant!r} has no key (a non-empty string)")
    if value != value.strip():
        raise ConfigurationError(f"{SETTING}: tenant {tenant!r}: the key has surrounding spaces")
    if value.startswith(SHA256_PREFIX):
        hex_digest = value.removeprefix(SHA256_PREFIX)
        if not SHA256_HEX.match(hex_digest):
            raise ConfigurationError(
                f"{SETTING}: tenant {tenant!r}: {SHA256_PREFIX!r} must be followed by the 64 hex "
                "digits of the key's SHA-256"
            )
        return bytes.fromhex(hex_digest)
    return key_digest(value)


def load_tenants(settings: Settings) -> Tenants:
    """The tenants of BATCHRELAY_GATEWAY_KEYS; ConfigurationError names what is wrong."""
    digests: list[tuple[str, bytes]] = []
    plain: list[str] = []
    for tenant, value in _config(settings).items():
        if not TENANT_NAME.match(tenant):
            raise ConfigurationError(
                f"{SETTING}: {tenant[:40]!r} is not a valid tenant name ({TENANT_NAME.pattern})"
            )
        digest = _digest_of(tenant, value)
        for other, known in digests:
            if hmac.compare_digest(digest, known):
                raise ConfigurationError(
                    f"{SETTING}: tenants {other!r} and {tenant!r} have the same key"
                )
        digests.append((tenant, digest))
        if isinstance(value, str) and not value.startswith(SHA256_PREFIX):
            plain.append(value)
    return Tenants(tuple(digests), tuple(plain))
