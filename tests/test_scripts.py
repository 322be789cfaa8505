"""Every Lua script's header and its typed call agree, name by name and in order, and every
script loads into a real Redis with its libraries."""

from __future__ import annotations

from importlib import resources

import pytest
from redis import Redis

from producers.scripts import ScriptCall, Scripts, header, layout, source
from producers.storing import Submit
from worker.store.calls import WORKER_CALLS

CALLS: list[type[ScriptCall]] = [Submit, *WORKER_CALLS]
LIBRARIES = {"segments", "deliveries"}


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.SCRIPT)
def test_the_call_names_what_the_header_names(call: type[ScriptCall]) -> None:
    said = header(call.PACKAGE, call.SCRIPT)
    shape = layout(call)
    assert said.keys == shape.keys, f"{call.SCRIPT}.lua KEYS vs {call.__name__}"
    expected_args = shape.args + ((f"...{shape.rest}",) if shape.rest else ())
    assert said.args == expected_args, f"{call.SCRIPT}.lua ARGV vs {call.__name__}"


def test_every_script_has_one_call_and_loads(redis: Redis) -> None:
    scripts = {
        (package, path.name.removesuffix(".lua"))
        for package in ("producers", "worker")
        for path in resources.files(package).joinpath("lua").iterdir()
        if path.name.endswith(".lua") and path.name.removesuffix(".lua") not in LIBRARIES
    }
    assert scripts == {(c.PACKAGE, c.SCRIPT) for c in CALLS}
    for call in CALLS:
        for library in header(call.PACKAGE, call.SCRIPT).libraries:
            assert library in LIBRARIES
        assert (
            "local function" in source(call.PACKAGE, call.SCRIPT)
            or not header(call.PACKAGE, call.SCRIPT).libraries
        )
    Scripts(redis, CALLS).load()  # SCRIPT LOAD compiles each: a syntax error fails here
