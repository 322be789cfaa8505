"""Settings of the emulator process and the faults it injects.

Every setting can come from a CLI flag or from an environment variable with the prefix
`BATCHRELAY_EMULATOR_` (e.g. `BATCHRELAY_EMULATOR_BATCH_SECONDS=0.5`,
`BATCHRELAY_EMULATOR_LINE_500_RATE=0.1`).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BATCHRELAY_EMULATOR_"
MIB = 1024 * 1024

Rate = float
StuckStatus = Literal["validating", "in_progress", "finalizing"]
BatchFault = Literal["token_limit_exceeded"]


class BatchFaults(BaseModel):
    """Faults applied to a batch; each can also be set per batch by metadata `emulator_<name>`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    fault: BatchFault | None = None
    """A whole-batch failure reported asynchronously (validating -> failed)."""
    fault_rate: Rate = Field(default=1.0, ge=0.0, le=1.0)
    """Share of batches that get `fault` (decided per batch)."""
    expire_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    """Expire the batch (in_progress -> expired) once this share of its lines is done."""
    line_500_rate: Rate = Field(default=0.0, ge=0.0, le=1.0)
    line_429_rate: Rate = Field(default=0.0, ge=0.0, le=1.0)
    line_400_rate: Rate = Field(default=0.0, ge=0.0, le=1.0)
    line_error_rate: Rate = Field(default=0.0, ge=0.0, le=1.0)
    """Lines failing in the `{"response": null, "error": {code, message}}` shape."""
    line_error_code: str = "server_error"
    stuck: StuckStatus | None = None
    """Stay in this status until cancelled or the completion window elapses."""
    finalize_seconds: float | None = Field(default=None, ge=0.0)
    """Overrides `finalizing_seconds` (slow finalizing)."""
    batch_seconds: float | None = Field(default=None, ge=0.0)
    """Overrides `batch_seconds` (the in_progress -> completed time)."""
    cancel_seconds: float | None = Field(default=None, ge=0.0)
    """Slow cancelling: a cancelled batch stays cancelling (canceling) this much longer."""
    webhook_drop_rate: Rate = Field(default=0.0, ge=0.0, le=1.0)
    """Share of batches whose `batch.*` webhook is never sent (decided per batch)."""


class HttpFaults(BaseModel):
    """Faults on the HTTP routes under /v1 (OpenAI's and Anthropic's)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    http_429_rate: Rate = Field(default=0.0, ge=0.0, le=1.0)
    http_500_rate: Rate = Field(default=0.0, ge=0.0, le=1.0)
    http_529_rate: Rate = Field(default=0.0, ge=0.0, le=1.0)
    """Anthropic's 529 `overloaded_error`, on the Anthropic routes (/v1/messages...) only."""
    http_500_after_rate: Rate = Field(default=0.0, ge=0.0, le=1.0)
    """The route does its work (e.g. creates the batch) but the answer is a 500."""
    routes: list[str] | None = None
    """Route filter: `/v1/batches`, `POST /v1/files`, `GET /v1/batches/*`; None means all."""
    retry_after_seconds: float = Field(default=1.0, ge=0.0)


class Faults(HttpFaults, BatchFaults):
    """Every fault the emulator can inject (the body of `GET/POST /_emulator/faults`)."""


class FaultsFromEnv(BaseSettings, Faults):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")


class EmulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8089
    api_key: str | None = None
    data_dir: Path | None = None
    """Where file bodies live; a fresh temporary directory (removed on exit) when unset."""
    batch_seconds: float = Field(default=2.0, ge=0.0)
    validating_seconds: float = Field(default=0.2, ge=0.0)
    finalizing_seconds: float = Field(default=0.2, ge=0.0)
    window_seconds: float = Field(default=86400.0, gt=0.0)
    seed: int | None = None
    forward_url: str | None = None
    forward_concurrency: int = Field(default=8, ge=1)
    forward_timeout: float = Field(default=600.0, gt=0.0)
    forward_api_key: str | None = None
    models: list[str] | None = None
    """Models that exist; None accepts any model name fitting the endpoint."""
    max_file_bytes: int = Field(default=200 * MIB, ge=1)
    accept_expires_after: bool = True
    """False answers an upload with ``expires_after`` as a provider without it would (400)."""
    file_ttl_scale: float = Field(default=1.0, gt=0.0)
    """Multiplies ``expires_after`` seconds: 1/3600 makes an hour pass in a second."""
    max_requests: int = Field(default=50_000, ge=1)
    max_embedding_inputs: int = Field(default=50_000, ge=1)
    max_message_batch_requests: int = Field(default=100_000, ge=1, le=100_000)
    max_message_batch_bytes: int = Field(default=256 * MIB, ge=1, le=256 * MIB)
    """Anthropic's limits of one Message Batch create (over either: 413 request_too_large)."""
    webhook_url: str | None = None
    """Where OpenAI batches' `batch.*` events are POSTed; None sends no webhooks."""
    webhook_secret: str | None = None
    """The signing secret, `whsec_<base64>` as OpenAI issues them."""
    log_level: str = "warning"
    faults: Faults = Field(default_factory=Faults)

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("the webhook URL must start with http:// or https://")
        return url

    @field_validator("webhook_secret")
    @classmethod
    def _decodable_secret(cls, secret: str | None) -> str | None:
        if secret is None:
            return None
        if not secret.startswith("whsec_") or len(secret) == len("whsec_"):
            raise ValueError("the webhook secret must look like whsec_<base64>")
        try:
            base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise ValueError("the part of the webhook secret after whsec_ is not base64") from None
        return secret

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Self:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError(
                "--webhook-url needs --webhook-secret (or BATCHRELAY_EMULATOR_WEBHOOK_SECRET): "
                "OpenAI signs every webhook"
            )
        return self
