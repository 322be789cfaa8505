"""`batchrelay gateway`: check the settings, set up logging, serve the app with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from gateway.app import create_app
from gateway.config import load_settings, load_tenants
from producers.settings import Settings
from worker.logs import RedactingFilter, secrets_of, setup_logging

log = logging.getLogger("batchrelay.gateway")

GRACEFUL_SHUTDOWN_SECONDS = 10


def _redact_tenant_keys(settings: Settings) -> None:
    """Mask the tenants' keys, as well as every other secret, in every log record."""
    secrets = secrets_of(settings) + list(load_tenants(settings).plain_keys)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(secrets))


def serve(host: str, port: int, log_level: str = "info", settings: Settings | None = None) -> int:
    """Serve the gateway until SIGTERM or SIGINT; ConfigurationError before it listens."""
    settings = settings or load_settings()
    app = create_app(settings)  # checks the tenants' keys
    setup_logging(settings, log_level.upper())
    _redact_tenant_keys(settings)
    log.info(
        "gateway serving http://%s:%d/v1 for %d tenant(s)", host, port, len(app.state.tenants.names)
    )
    # log_config=None: uvicorn's records go through the root handler, and its redaction.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return 0
