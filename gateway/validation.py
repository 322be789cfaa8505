"""A batch input file's lines, read from Redis chunk by chunk, and each line checked as OpenAI
checks them at create (its error codes, 1-based line numbers) and as batchrelay checks a work
item (producers.models.prepare), so a file that passes never has an item refused later.

Memory stays flat: the file is streamed, and the custom_ids seen are kept in a Redis set that
expires, not in this process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from redis import Redis

from gateway.batchstore import item_id
from producers.errors import InvalidItem
from producers.keys import Keys
from producers.models import PreparedItem, Router, assemble, prepare

MAX_REPORTED_ERRORS = 1000
CHUNKS_PER_READ = 8  # 8 MiB a round trip
CUSTOM_ID_CHARS = 512
SEEN_TTL = 3600
REQUIRED = ("custom_id", "method", "url", "body")


def file_lines(redis: Redis, keys: Keys, file_id: str) -> Iterator[bytes]:
    """The non-blank lines of an uploaded file, split at b"\\n" only."""
    key = keys.gateway_file_chunks(file_id)
    rest, start = b"", 0
    while True:
        chunks = redis.lrange(key, start, start + CHUNKS_PER_READ - 1)
        if not chunks:
            break
        start += len(chunks)
        for chunk in chunks:
            parts = (rest + cast(bytes, chunk)).split(b"\n")
            rest = parts.pop()
            yield from (p for p in parts if p.strip())
    if rest.strip():
        yield rest


@dataclass
class Problem:
    """One of OpenAI's batch errors: ``{"code", "line", "message", "param"}``."""

    code: str
    line: int | None
    message: str
    param: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "line": self.line, "message": self.message, "param": self.param}


@dataclass
class LineChecker:
    """Checks a batch's lines in order; each that passes becomes a PreparedItem."""

    batch_id: str
    tenant: str
    endpoint: str
    route: Router
    max_line_bytes: int
    redis: Redis
    seen_key: str
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    lines: int = 0
    partitions: set[str] = field(default_factory=set)

    def fail(self, code: str, line: int | None, message: str, param: str | None = None) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED_ERRORS:
            self.problems.append(Problem(code, line, message, param))

    def item(self, number: int, line: dict[str, Any]) -> dict[str, Any]:
        """The work item of a line (0-based ``number``): its id is the idempotency key."""
        return {
            "id": item_id(self.batch_id, number),
            "endpoint": self.endpoint,
            "body": line["body"],
            "tenant": self.tenant,
            "group": self.batch_id,
        }

    def prepared(self, number: int, line: dict[str, Any]) -> PreparedItem:
        """The work item of a line that check() passed, without validating it again."""
        item, body = item_id(self.batch_id, number), line["body"]
        request = orjson.dumps(
            {"custom_id": item, "method": "POST", "url": self.endpoint, "body": body}
        )
        provider = self.route(self.endpoint, body["model"], item, None)
        return assemble(item, self.endpoint, body, provider, request, self.tenant, self.batch_id)

    def parse(self, number: int, raw: bytes) -> dict[str, Any] | None:
        """The line as an object with the four fields the Batch API requires, or None."""
        where = number + 1
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.fail("invalid_json_line", where, "This line is not parseable as valid JSON.")
            return None
        if not isinstance(line, dict):
            self.fail("invalid_json_line", where, "This line is not a JSON object.")
            return None
        missing = [name for name in REQUIRED if line.get(name) is None]
        for name in missing:
            message = f"Missing required parameter: '{name}'."
            self.fail("missing_required_parameter", where, message, name)
        return None if missing else line

    def check(self, number: int, raw: bytes) -> tuple[PreparedItem, str] | None:
        """The line's item and custom_id when the line passes (duplicates are found later,
        by check_unique)."""
        self.lines += 1
        line = self.parse(number, raw)
        if line is None:
            return None
        where, custom_id = number + 1, line["custom_id"]
        ok = True
        if not isinstance(custom_id, str) or not custom_id or len(custom_id) > CUSTOM_ID_CHARS:
            message = f"The 'custom_id' must be a non-empty string of at most {CUSTOM_ID_CHARS}."
            self.fail("invalid_custom_id", where, message, "custom_id")
            ok = False
        if line["method"] != "POST":
            message = f"The method '{line['method']}' is not supported; only 'POST' is."
            self.fail("invalid_method", where, message, "method")
            ok = False
        if line["url"] != self.endpoint:
            message = (
                f"The URL provided for this request ('{line['url']}') does not match the "
                f"batch endpoint ('{self.endpoint}')."
            )
            self.fail("invalid_url", where, message, "url")
            ok = False
        if not isinstance(line["body"], dict):
            self.fail("invalid_body", where, "The 'body' must be a JSON object.", "body")
            return None
        try:
            prepared = prepare(self.item(number, line), number, self.max_line_bytes, self.route)
        except InvalidItem as error:
            for rejection in error.rejections:
                self.fail("invalid_request", where, rejection.message, rejection.field)
            return None
        if not ok:
            return None
        self.partitions.add(prepared.partition)
        return prepared, custom_id

    def check_unique(self, numbered: list[tuple[int, str]]) -> None:
        """Report the custom_ids of ``numbered`` lines that an earlier line had: two commands
        a chunk, whatever its size."""
        ids = [custom_id for _, custom_id in numbered]
        pipe = self.redis.pipeline(transaction=False)
        pipe.smismember(self.seen_key, ids)
        pipe.sadd(self.seen_key, *ids)
        pipe.expire(self.seen_key, SEEN_TTL)
        seen_before, added, _ = pipe.execute()
        if added == len(ids):
            return  # the common case: nothing seen before, no two alike in the chunk
        in_chunk: set[str] = set()
        for (number, custom_id), before in zip(numbered, seen_before, strict=True):
            if before or custom_id in in_chunk:
                message = (
                    f"The custom_id '{custom_id}' for this request is a duplicate of another "
                    "request. The custom_id parameter must be unique for each request in a batch."
                )
                self.fail("duplicate_custom_id", number + 1, message, "custom_id")
            in_chunk.add(custom_id)
