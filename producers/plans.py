"""What the SDK asks Redis, written once for the sync and the async client.

A plan is a generator that yields the commands it needs, a round trip at a time (a list of
commands is sent as one pipeline, on one connection, so a WAIT in it covers the writes before
it), and receives their replies; what it returns is its result. ``run(plan, redis)`` drives a
plan with a ``redis.Redis``, ``await arun(plan, redis)`` with a ``redis.asyncio.Redis``. An
error reply comes back as an exception object, not raised, so the plan decides what it means;
a lost connection is raised, and the caller's retry runs the whole plan again.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ResponseError

T = TypeVar("T")
Command = tuple[Any, ...]
RoundTrip = list[Command]
Plan = Generator[RoundTrip, list[Any], T]


def run(plan: Plan[T], redis: Redis) -> T:
    """Drive ``plan`` with a sync client."""
    replies: list[Any] | None = None
    while True:
        try:
            commands = plan.send(replies)  # type: ignore[arg-type]
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if len(commands) == 1:  # the usual submit: no pipeline to build
            try:
                replies = [redis.execute_command(*commands[0])]  # type: ignore[no-untyped-call]
            except ResponseError as error:
                replies = [error]
            continue
        pipe = redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]
        replies = pipe.execute(raise_on_error=False)


async def arun(plan: Plan[T], redis: AsyncRedis) -> T:
    """Drive ``plan`` with an asyncio client."""
    replies: list[Any] | None = None
    while True:
        try:
            commands = plan.send(replies)  # type: ignore[arg-type]
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if len(commands) == 1:
            try:
                replies = [await redis.execute_command(*commands[0])]  # type: ignore[no-untyped-call]
            except ResponseError as error:
                replies = [error]
            continue
        pipe = redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies = await pipe.execute(raise_on_error=False)


def one(command: Command) -> Plan[Any]:
    """A plan of one command; its reply (raised, if it is an error)."""
    (reply,) = yield [command]
    if isinstance(reply, Exception):
        raise reply
    return reply
