"""Lua scripts for every multi-key state change, and the typed calls that run them.

A script lives in the ``lua/`` folder of the package that runs it. Its header names what it
takes, in order, and the library it uses:

    -- KEYS: queue, queue_state, delayed, counts
    -- ARGV: now, max_queued, item_prefix, segment_prefix, records, registered
    -- LIBRARY: segments

A last ARGV name written ``...name`` takes any number of values. A LIBRARY is a file of
functions in the same folder, or in ``producers/lua`` (the libraries the SDK's scripts share
with the worker's), prepended to the script when it is loaded. Each script has one
typed call: a frozen dataclass deriving from ScriptCall whose fields are the header's names,
KEYS first, in the header's order (tests/test_scripts.py holds every call to its header), so
nothing crosses the Python-Lua line by position except here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from importlib import resources
from typing import Any, ClassVar

from redis.commands.core import Script
from redis.exceptions import NoScriptError

ROLE = "role"
KEY, ARG, REST = "key", "arg", "rest"
LIBRARY_PACKAGE = "producers"


def key() -> Any:
    """A field that is one of the script's KEYS."""
    return field(metadata={ROLE: KEY})


def arg() -> Any:
    """A field that is one of the script's ARGV."""
    return field(metadata={ROLE: ARG})


def rest() -> Any:
    """The last field: a sequence whose values are the script's last ARGV, however many."""
    return field(metadata={ROLE: REST})


@dataclass(frozen=True)
class ScriptCall:
    """The arguments of one run of a script, by name."""

    SCRIPT: ClassVar[str]
    """The script's file name in ``<PACKAGE>/lua`` without ``.lua``."""
    PACKAGE: ClassVar[str] = "producers"

    def keys(self) -> list[Any]:
        return [getattr(self, name) for name in layout(type(self)).keys]

    def args(self) -> list[Any]:
        shape = layout(type(self))
        values = [getattr(self, name) for name in shape.args]
        if shape.rest is not None:
            values.extend(getattr(self, shape.rest))
        return values


@dataclass(frozen=True)
class Layout:
    """The names of a call's KEYS, its ARGV, and its variadic last ARGV (if any)."""

    keys: tuple[str, ...]
    args: tuple[str, ...]
    rest: str | None


_LAYOUTS: dict[type[ScriptCall], Layout] = {}


def layout(call: type[ScriptCall]) -> Layout:
    """The call's field names by role, worked out once per class."""
    found = _LAYOUTS.get(call)
    if found is None:
        roles: dict[str, list[str]] = {KEY: [], ARG: [], REST: []}
        for f in fields(call):
            roles[f.metadata[ROLE]].append(f.name)
        variadic = roles[REST][0] if roles[REST] else None
        found = _LAYOUTS[call] = Layout(tuple(roles[KEY]), tuple(roles[ARG]), variadic)
    return found


@dataclass(frozen=True)
class Header:
    """What a script's header says: its KEYS, ARGV and libraries."""

    keys: tuple[str, ...]
    args: tuple[str, ...]
    libraries: tuple[str, ...]


HEADER_LINE = re.compile(r"^--\s*(KEYS|ARGV|LIBRARY):\s*(.*?)\s*$")


def _file(package: str, name: str) -> str:
    return resources.files(package).joinpath("lua", f"{name}.lua").read_text()


def _library(package: str, name: str) -> str:
    path = resources.files(package).joinpath("lua", f"{name}.lua")
    return path.read_text() if path.is_file() else _file(LIBRARY_PACKAGE, name)


@cache
def header(package: str, name: str) -> Header:
    """The header of ``<package>/lua/<name>.lua``."""
    found: dict[str, tuple[str, ...]] = {"KEYS": (), "ARGV": (), "LIBRARY": ()}
    for line in _file(package, name).splitlines():
        if not line.startswith("--"):
            break
        if match := HEADER_LINE.match(line):
            found[match[1]] = tuple(n.strip() for n in match[2].split(",") if n.strip())
    return Header(found["KEYS"], found["ARGV"], found["LIBRARY"])


@cache
def source(package: str, name: str) -> str:
    """The script with its libraries in front."""
    libraries = [_library(package, library) for library in header(package, name).libraries]
    return "".join([*libraries, _file(package, name)])


class Scripts:
    """The scripts of ``calls`` registered with one Redis client."""

    def __init__(self, redis: Any, calls: Iterable[type[ScriptCall]]) -> None:
        self.redis = redis
        self._scripts: dict[type[ScriptCall], Script] = {
            call: redis.register_script(source(call.PACKAGE, call.SCRIPT)) for call in calls
        }

    def run(self, call: ScriptCall) -> Any:
        """Run the call's script (EVALSHA, loading the script on NOSCRIPT)."""
        return self._scripts[type(call)](keys=call.keys(), args=call.args())

    def command(self, call: ScriptCall) -> tuple[Any, ...]:
        """The EVALSHA command of ``call``, to pipeline or to send packed."""
        keys = call.keys()
        return ("EVALSHA", self._scripts[type(call)].sha, len(keys), *keys, *call.args())

    def load_commands(self) -> list[tuple[Any, ...]]:
        """SCRIPT LOAD of every script (after a restart emptied the server's cache)."""
        return [("SCRIPT", "LOAD", script.script) for script in self._scripts.values()]

    def load(self) -> None:
        """Load every script into the server again."""
        for script in self._scripts.values():
            self.redis.script_load(script.script)


def flatten(pairs: Iterable[Sequence[Any]]) -> list[Any]:
    """``[(a, b), (c, d)]`` as ``[a, b, c, d]``: the variadic ARGV of many records."""
    return [value for pair in pairs for value in pair]


__all__ = ["NoScriptError", "ScriptCall", "Scripts", "arg", "key", "rest"]
