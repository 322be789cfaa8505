"""Lua scripts for every multi-key state change, loaded from producers/lua and registered once."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from redis import Redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

SCRIPT_NAMES = (
    "submit",
    "claim",
    "batch_transition",
    "members_state",
    "release_members",
    "settle",
    "settle_plain",
    "delivered",
    "claim_delivery",
    "promote",
    "revive",
)


# Lua libraries (producers/lua) some scripts start with: their shared functions.
LIBRARIES = {
    **dict.fromkeys(
        ("submit", "claim", "promote", "revive", "release_members", "settle"), "segments"
    ),
    **dict.fromkeys(("claim_delivery", "delivered"), "delivery"),
}


def _file(name: str) -> str:
    return resources.files("producers").joinpath("lua", f"{name}.lua").read_text()


@cache
def _source(name: str) -> str:
    library = LIBRARIES.get(name)
    return (_file(library) if library else "") + _file(name)


class Scripts:
    """The registered scripts of one Redis client; call as ``scripts.run(name, keys, args)``."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._scripts: dict[str, Script] = {
            name: redis.register_script(_source(name)) for name in SCRIPT_NAMES
        }

    def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script ``name`` (EVALSHA, loading it on NOSCRIPT)."""
        return self._scripts[name](keys=keys, args=args)

    def sha(self, name: str) -> str:
        return str(self._scripts[name].sha)

    def load(self) -> None:
        """Load every script into the server (after a restart flushed its script cache)."""
        for name in SCRIPT_NAMES:
            self.redis.script_load(_source(name))


__all__ = ["NoScriptError", "Scripts"]
