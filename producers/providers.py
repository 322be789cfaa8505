"""Providers: the Batch API accounts batchrelay sends to, and which model goes to which.

A provider is a named account of one kind: ``openai`` (OpenAI and every API shaped like its
Files + Batches: Azure OpenAI, Groq, ...) or ``anthropic`` (Message Batches). It has a base
URL, the environment variable holding its key, its limits, token budgets and prices. Routes
send a model to a provider by patterns, the first route that matches winning; a route may
name several providers (several keys or projects of one provider), over which its items are
spread by id, so a resubmitted id lands where it did as long as the route's list of providers
stays the same. An item may name its provider.

Configured in BATCHRELAY_PROVIDERS_FILE (TOML) or BATCHRELAY_PROVIDERS (the same, as JSON):

    [providers.openai-a]
    kind = "openai"
    api_key_env = "OPENAI_KEY_A"
    token_budgets = {"gpt-4o-mini" = 20000000}

    [providers.claude]
    kind = "anthropic"

    [[routes]]
    endpoints = ["/v1/messages"]
    models = ["claude-*"]
    providers = ["claude"]

    [[routes]]
    models = ["*"]
    providers = ["openai-a"]

Without either, ``claude-*`` models on /v1/messages go to the provider ``anthropic`` (the
anthropic SDK's ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL), the rest to ``openai``
(OPENAI_API_KEY, OPENAI_BASE_URL).
"""

from __future__ import annotations

import fnmatch
import tomllib
import zlib
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from producers.errors import ConfigurationError
from producers.keys import DEFAULT_PROVIDER
from producers.models import Endpoint

DEFAULT = DEFAULT_PROVIDER  # the provider of data written before providers existed
ProviderName = str
KINDS_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "openai": tuple(e.value for e in Endpoint if e is not Endpoint.MESSAGES),
    "anthropic": (Endpoint.MESSAGES.value,),
}


class Limits(BaseModel):
    """What one batch may hold at this provider."""

    model_config = ConfigDict(extra="forbid")

    max_requests: int = Field(50_000, ge=1)
    max_bytes: int = Field(200 * 1024 * 1024, ge=1024)
    max_embedding_inputs: int = Field(50_000, ge=1)


ANTHROPIC_LIMITS = Limits(max_requests=100_000, max_bytes=256 * 1024 * 1024)


class Price(BaseModel):
    """USD per million tokens at real-time prices (the batch discount is applied on top)."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class Provider(BaseModel):
    """One Batch API account."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    kind: Literal["openai", "anthropic"]
    base_url: str | None = None
    api_key_env: str | None = None
    limits: Limits | None = None
    completion_window: str | None = None
    """An OpenAI-shaped provider's completion_window (none: BATCHRELAY_COMPLETION_WINDOW)."""
    listing_lag: float | None = Field(None, ge=0)
    """Seconds a batch just created may be missing from the provider's listing, during which
    no second create follows one whose outcome was unknown (none: 300 for Anthropic, 0 for
    OpenAI-shaped providers, whose batches carry our id and whose twins are cancelled)."""
    token_budgets: dict[str, int] = Field(default_factory=dict)
    prices: dict[str, Price] = Field(default_factory=dict)
    batch_discount: float | None = Field(None, ge=0, le=1)
    """The batch price as a share of the real-time one (none: the price table's)."""
    webhook_secret_env: str | None = None
    """The variable holding the secret that signs this account's batch webhooks, received at
    the gateway's /webhooks/<name> (none: OPENAI_WEBHOOK_SECRET for the provider ``openai``)."""

    @property
    def key_env(self) -> str:
        return self.api_key_env or f"{self.kind.upper()}_API_KEY"

    @property
    def webhook_env(self) -> str | None:
        if self.webhook_secret_env or self.kind != "openai":
            return self.webhook_secret_env
        return "OPENAI_WEBHOOK_SECRET" if self.name == DEFAULT else None

    @property
    def batch_limits(self) -> Limits:
        if self.limits is not None:
            return self.limits
        return ANTHROPIC_LIMITS if self.kind == "anthropic" else Limits()

    def takes(self, endpoint: str) -> bool:
        return endpoint in KINDS_ENDPOINTS[self.kind]


class Route(BaseModel):
    """Items of these endpoints (any, if none is named) and models go to these providers."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(min_length=1)
    endpoints: list[str] = Field(default_factory=list)
    providers: list[str] = Field(min_length=1)

    def matches(self, endpoint: str, model: str) -> bool:
        if self.endpoints and endpoint not in self.endpoints:
            return False
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)


class Providers(BaseModel):
    """Every provider, and the routes to them."""

    model_config = ConfigDict(extra="forbid")

    providers: dict[str, Provider]
    routes: list[Route] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: object) -> object:
        """Each provider is written under its name: ``[providers.<name>]``."""
        if isinstance(data, dict) and isinstance(data.get("providers"), dict):
            named = {
                name: {"name": name, **body} if isinstance(body, dict) else body
                for name, body in data["providers"].items()
            }
            return {**data, "providers": named}
        return data

    @model_validator(mode="after")
    def _routes_name_providers(self) -> Providers:
        for n, route in enumerate(self.routes):
            for name in route.providers:
                if name not in self.providers:
                    raise ValueError(f"routes[{n}] names provider {name!r}, which is not defined")
        return self

    def provider(self, name: str) -> Provider:
        """The provider of that name; raise ConfigurationError when none is configured (data
        in Redis names a provider the configuration lost)."""
        found = self.providers.get(name)
        if found is None:
            raise ConfigurationError(
                f"provider {name!r} has data in Redis but is not configured "
                "(BATCHRELAY_PROVIDERS_FILE / BATCHRELAY_PROVIDERS)"
            )
        return found

    def route(self, endpoint: str, model: str, item_id: str, named: str | None = None) -> str:
        """The provider of an item; raise LookupError saying why there is none."""
        if named is not None:
            provider = self.providers.get(named)
            if provider is None:
                raise LookupError(f"no provider named {named!r}")
            if not provider.takes(endpoint):
                raise LookupError(f"provider {named!r} ({provider.kind}) does not take {endpoint}")
            return named
        usable = self._candidates(endpoint, model)
        if not usable:
            raise LookupError(f"no provider takes {endpoint} for model {model!r}")
        if len(usable) == 1:
            return usable[0]
        return usable[zlib.crc32(item_id.encode()) % len(usable)]

    @cached_property
    def routed(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(endpoint, model) -> the providers _candidates found. A cached_property, in the
        instance's __dict__: a pydantic private attribute costs a __getattr__ call per item."""
        return {}

    def _candidates(self, endpoint: str, model: str) -> tuple[str, ...]:
        """The providers of the first route that matches and takes the endpoint (cached: it
        runs for every item)."""
        key = (endpoint, model)
        found = self.routed.get(key)
        if found is None:
            found = ()
            for route in self.routes:
                if route.matches(endpoint, model):
                    found = tuple(p for p in route.providers if self.providers[p].takes(endpoint))
                    if found:
                        break
            if len(self.routed) < 10_000:
                self.routed[key] = found
        return found


DEFAULT_PROVIDERS = {
    "providers": {
        DEFAULT: {"kind": "openai"},
        "anthropic": {"kind": "anthropic"},
    },
    "routes": [
        {
            "endpoints": [Endpoint.MESSAGES.value],
            "models": ["claude-*"],
            "providers": ["anthropic"],
        },
        {"models": ["*"], "providers": [DEFAULT]},
    ],
}


@cache
def load_providers(file: str | None, inline: str | None) -> Providers:
    """The providers of BATCHRELAY_PROVIDERS_FILE or BATCHRELAY_PROVIDERS (or the defaults);
    raise ConfigurationError naming the provider and the field that is wrong."""
    source = "the default providers"
    data: object = DEFAULT_PROVIDERS
    try:
        if file:
            source = file
            data = tomllib.loads(Path(file).read_text())
        elif inline:
            source = "BATCHRELAY_PROVIDERS"
            data = orjson.loads(inline)
    except (OSError, tomllib.TOMLDecodeError, orjson.JSONDecodeError) as error:
        raise ConfigurationError(f"{source}: {error}") from None
    try:
        return Providers.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigurationError(f"{source}: {problems}") from None
