"""The one settings object, read from BATCHRELAY_* environment variables."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from producers.providers import Providers, load_providers

API_MAX_REQUESTS = 50_000
API_MAX_BYTES = 200 * 1024 * 1024
API_MAX_EMBEDDING_INPUTS = 50_000


class Settings(BaseSettings):
    """Everything tunable. Provider keys and base URLs are not settings: each provider reads
    its key from its own variable (producers/providers.py)."""

    model_config = SettingsConfigDict(env_prefix="BATCHRELAY_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_sentinel_password: SecretStr | None = None
    redis_outage_tolerance: float = Field(
        120.0, gt=0, description="seconds a role rides out an unreachable Redis before it exits"
    )
    redis_min_replicas: int = Field(
        0, ge=0, description="replicas that must hold a write before it is acknowledged"
    )
    # Below the client's read timeout (producers/connection.py), or a WAIT would end in a
    # timeout instead of ReplicasUnavailable.
    redis_wait_ms: int = Field(
        1000, ge=1, le=25_000, description="how long to wait for those replicas"
    )
    producer_retry_seconds: float = Field(
        30.0, ge=0, description="how long the SDK retries an unreachable Redis before raising"
    )
    namespace: str = Field("br", pattern=r"^[A-Za-z0-9_.-]{1,32}$")

    flush_after: float = Field(
        60.0, gt=0, description="flush a partition whose oldest item waited this long"
    )
    aggregate_interval: float = Field(1.0, gt=0)
    poll_interval: float = Field(10.0, gt=0)
    housekeeping_interval: float = Field(15.0, gt=0)
    max_requests_per_batch: int = Field(API_MAX_REQUESTS, ge=1, le=API_MAX_REQUESTS)
    max_batch_bytes: int = Field(API_MAX_BYTES, ge=1024, le=API_MAX_BYTES)
    max_embedding_inputs: int = Field(API_MAX_EMBEDDING_INPUTS, ge=1, le=API_MAX_EMBEDDING_INPUTS)
    max_item_bytes: int = Field(10 * 1024 * 1024, ge=256)
    max_queued: int = Field(
        5_000_000, ge=1, description="queued items per partition before QueueFull"
    )
    token_budgets: dict[str, int] = Field(default_factory=dict)
    completion_window: str = "24h"

    max_attempts: int = Field(3, ge=1)
    retry_backoff: float = Field(5.0, ge=0)
    retry_backoff_max: float = Field(900.0, ge=0)
    token_backoff: float = Field(60.0, ge=0)
    token_backoff_max: float = Field(3600.0, ge=0)

    beat_lock_timeout: float = Field(60.0, gt=1, description="a standby beat takes over after this")
    lease_seconds: float = Field(
        300.0, gt=0, description="a claim older than this is presumed dead"
    )
    stuck_after: float = Field(
        3600.0, gt=0, description="report a batch validating/finalizing this long"
    )
    result_ttl: int = Field(7 * 86400, ge=60)
    delivery_chunk: int = Field(500, ge=1)

    webhook_secret: SecretStr | None = None
    webhook_allow: list[str] = Field(default_factory=list)
    webhook_timeout: float = Field(10.0, gt=0)
    webhook_max_tries: int = Field(5, ge=1)
    webhook_max_response_bytes: int = Field(64 * 1024, ge=0)

    providers_file: str | None = None
    providers: str | None = None  # the same as the file's TOML, as JSON

    keep_files: bool = False
    file_ttl: int = Field(
        30 * 86400, ge=3600, le=30 * 86400, description="expires_after of uploaded batch files"
    )

    openai_timeout: float = Field(120.0, gt=0)
    openai_max_retries: int = Field(4, ge=0)

    log_json: bool = False
    flower_basic_auth: SecretStr | None = None

    gateway_keys: SecretStr | None = None
    """JSON: tenant name -> its API key, or ``sha256:<hex>`` of it (gateway/auth.py)."""
    gateway_max_file_bytes: int = Field(2 * 1024**3, ge=1024)
    gateway_tenant_max_queued: int | None = Field(None, ge=1)

    @field_validator("max_item_bytes")
    @classmethod
    def _item_fits_batch(cls, value: int) -> int:
        return min(value, API_MAX_BYTES)

    @classmethod
    def from_dsn(cls, redis_url: str, **overrides: Any) -> Settings:
        """Settings from the environment, with this Redis URL and any overrides."""
        return cls(redis_url=redis_url, **overrides)

    def provider_config(self) -> Providers:
        """The providers and routes (producers/providers.py)."""
        return load_providers(self.providers_file, self.providers)

    def item_byte_limit(self) -> int:
        """The largest request line an item may have so a batch file can hold it."""
        return min(self.max_item_bytes, self.max_batch_bytes)
