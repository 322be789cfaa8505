"""The version of batchrelay's data in Redis, so a newer release never misreads older data.

Format 2 (batchrelay 0.2) names every hash field in words (producers/keys.md); format 1 (0.1)
wrote abbreviations ('st', 'sg', 'cb'...) and had no version key. A process that finds data
without the version refuses to touch it until `batchrelay migrate` has rewritten it.
"""

from __future__ import annotations

from redis import Redis

from producers.connection import safe_url
from producers.errors import ConfigurationError
from producers.keys import Keys
from producers.plans import Plan, run
from producers.replies import text

FORMAT = "2"


class OldDataFormat(ConfigurationError):
    """Redis holds data an older batchrelay wrote; `batchrelay migrate` rewrites it."""


def format_plan(keys: Keys, url: str) -> Plan[None]:
    """Stamp an empty namespace with the current format; raise OldDataFormat on older data."""
    stamp, partitions = yield [("GET", keys.data_format), ("HLEN", keys.partitions)]
    for reply in (stamp, partitions):
        if isinstance(reply, Exception):
            raise reply
    if stamp is None:
        if partitions == 0:
            yield [("SET", keys.data_format, FORMAT, "NX")]
            return
        stamp = b"1"
    found = text(stamp)
    if found != FORMAT:
        raise OldDataFormat(
            f"Redis at {safe_url(url)} holds batchrelay data of format {found} "
            f"(this release reads format {FORMAT}): stop every producer and worker, then run "
            "`batchrelay migrate`"
        )


def ensure_format(redis: Redis, keys: Keys, url: str) -> None:
    """format_plan() with a sync client."""
    run(format_plan(keys, url), redis)
