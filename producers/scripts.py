"""Lua scripts for every multi-key state change, loaded from producers/lua and registered once."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from redis import Redis
from redis.commands.core import Script

SCRIPT_NAMES = (
    "submit",
    "claim",
    "batch_transition",
    "members_state",
    "release_members",
    "settle",
    "delivered",
    "promote",
    "revive",
)


@cache
def _source(name: str) -> str:
    return resources.files("producers").joinpath("lua", f"{name}.lua").read_text()


class Scripts:
    """The registered scripts of one Redis client; call as ``scripts.run(name, keys, args)``."""

    def __init__(self, redis: Redis) -> None:
        self._scripts: dict[str, Script] = {
            name: redis.register_script(_source(name)) for name in SCRIPT_NAMES
        }

    def run(self, name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        """Run script ``name`` (EVALSHA, loading it on NOSCRIPT), optionally in a pipeline."""
        return self._scripts[name](keys=keys, args=args, client=client)
