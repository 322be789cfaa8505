"""Celery's broker: kombu's Redis transports, with one fix for a Redis that went away.

When the broker connection drops while a task runs, Celery closes the channel and later acks
the finished task's message on it. kombu then builds a client from the closed connection and
fails with AttributeError ('NoneType' object has no attribute 'hostname', as in
celery/kombu#582), which Celery does not expect and which ends the worker. Here a closed
channel raises redis' ConnectionError instead: a connection error, which Celery logs and
survives ("Couldn't ack"). The message itself was already restored to the queue, and it is
only a trigger: batchrelay's state lives in Redis under leases.

The transports are registered under kombu's own scheme names (redis, rediss, sentinel) when
the Celery app is built, so URLs keep their schemes for every reader (Flower's broker view
parses them).
"""

from __future__ import annotations

from typing import Any

from kombu import transport as kombu_transports
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError


class _ClosedChannelRaisesConnectionError:
    connection: Any

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise ConnectionError("the broker connection of this channel is closed")
        return super()._connparams(asynchronous)  # type: ignore[misc,no-any-return]


class Channel(_ClosedChannelRaisesConnectionError, kombu_redis.Channel):
    pass


class SentinelChannel(_ClosedChannelRaisesConnectionError, kombu_redis.SentinelChannel):
    pass


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel


def register() -> None:
    """Make ``redis://``, ``rediss://`` and ``sentinel://`` broker URLs use the transports
    above."""
    transports = (("redis", Transport), ("rediss", Transport), ("sentinel", SentinelTransport))
    for scheme, transport in transports:
        kombu_transports.TRANSPORT_ALIASES[scheme] = f"{__name__}:{transport.__name__}"
        kombu_transports._transport_cache.pop(scheme, None)
