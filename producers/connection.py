"""Redis connections from BATCHRELAY_REDIS_URL: one server, or a primary found through Sentinel.

``redis://``, ``rediss://`` and ``unix://`` name one server. ``redis+sentinel://`` names the
sentinels and the service they watch:
``redis+sentinel://[[user]:password@]host1:26379,host2:26379/<service>/<db>``; the user and
password authenticate to Redis, the sentinels' own password (if any) comes from
BATCHRELAY_REDIS_SENTINEL_PASSWORD. Every client built here asks the sentinels for the primary
on each new connection, so it follows a failover without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

from producers.errors import ConfigurationError
from producers.settings import Settings

SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
# No command of ours takes longer than this (Producer.wait blocks for less); without a read
# timeout a connection to a primary that vanished from the network hangs forever.
SOCKET_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class SentinelTarget:
    """The sentinels, the service they watch, and how to reach the primary they name."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SENTINEL_SCHEME + "://")


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The parts of a ``redis+sentinel://`` URL; raise ConfigurationError naming what is wrong."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    sentinels: list[tuple[str, int]] = []
    for entry in filter(None, hosts.split(",")):
        host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "")
        try:
            sentinels.append((host or entry, int(port) if port else DEFAULT_SENTINEL_PORT))
        except ValueError:
            raise ConfigurationError(
                f"{safe_url(url)}: sentinel {entry!r} has no valid port"
            ) from None
    path = [p for p in parts.path.split("/") if p]
    if not sentinels or not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ConfigurationError(
            f"{safe_url(url)}: expected {SENTINEL_SCHEME}://[[user]:password@]host:port[,host:port"
            "...]/<service name>/<db>"
        )
    return SentinelTarget(
        sentinels=tuple(sentinels),
        service=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def sentinel_password(settings: Settings) -> str | None:
    secret = settings.redis_sentinel_password
    return None if secret is None else secret.get_secret_value()


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": CONNECT_TIMEOUT, **options}


def _sentinel_options(settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    """How to talk to the sentinels themselves: their timeouts, their own password."""
    found: dict[str, Any] = {
        "socket_timeout": options["socket_connect_timeout"],
        "socket_connect_timeout": options["socket_connect_timeout"],
    }
    if (password := sentinel_password(settings)) is not None:
        found["password"] = password
    return found


def connect(settings: Settings, **options: Any) -> Redis:
    """A client of the Redis that BATCHRELAY_REDIS_URL names (its primary, under Sentinel)."""
    options = _options(options)
    url = settings.redis_url
    if not is_sentinel_url(url):
        return Redis.from_url(url, **options)
    target = parse_sentinel_url(url)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), sentinel_kwargs=_sentinel_options(settings, options)
    )
    return sentinel.master_for(  # type: ignore[no-untyped-call,no-any-return]
        target.service,
        db=target.db,
        username=target.username,
        password=target.password,
        **options,
    )


def connect_async(settings: Settings, **options: Any) -> AsyncRedis:
    """connect() for asyncio: a redis.asyncio client, Sentinel included."""
    options = _options(options)
    url = settings.redis_url
    if not is_sentinel_url(url):
        return AsyncRedis.from_url(url, **options)
    target = parse_sentinel_url(url)
    sentinel = AsyncSentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), sentinel_kwargs=_sentinel_options(settings, options)
    )
    return sentinel.master_for(  # type: ignore[no-any-return]
        target.service,
        db=target.db,
        username=target.username,
        password=target.password,
        **options,
    )
