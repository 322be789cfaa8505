"""One input line in, one output or error line out, in OpenAI's batch output line format."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from emulator import ids
from emulator.answers import LineRequestError
from emulator.config import BatchFaults
from emulator.errors import error_body, rate_limit_body, server_error_body
from emulator.responses import generate

EXPIRED_CODE = "batch_expired"
CANCELLED_CODE = "batch_cancelled"
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."
INJECTED_400_BODY = error_body(
    "Invalid request (injected by the emulator's line_400_rate fault).",
    "invalid_request_error",
    None,
    "invalid_value",
)


@dataclass(frozen=True)
class ParsedLine:
    custom_id: str
    url: str
    body: dict[str, Any]


@dataclass(frozen=True)
class LineOutcome:
    """A serialized output line; `succeeded` lines go to the output file, the rest to errors."""

    line: bytes
    custom_id: str
    succeeded: bool
    input_tokens: int = 0
    output_tokens: int = 0


def parse_line(raw: bytes) -> ParsedLine:
    """A line that passed validation."""
    line = orjson.loads(raw)
    return ParsedLine(line["custom_id"], line["url"], line["body"])


def custom_id_of(raw: bytes) -> str:
    return str(orjson.loads(raw)["custom_id"])


def response_outcome(custom_id: str, status_code: int, body: Any) -> LineOutcome:
    line = {
        "id": ids.batch_request_id(),
        "custom_id": custom_id,
        "response": {"status_code": status_code, "request_id": ids.request_id(), "body": body},
        "error": None,
    }
    succeeded = 200 <= status_code < 300
    input_tokens, output_tokens = usage_of(body) if succeeded else (0, 0)
    return LineOutcome(_dump(line), custom_id, succeeded, input_tokens, output_tokens)


def error_outcome(custom_id: str, code: str, message: str) -> LineOutcome:
    line = {
        "id": ids.batch_request_id(),
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }
    return LineOutcome(_dump(line), custom_id, False)


def expired_outcome(custom_id: str) -> LineOutcome:
    return error_outcome(custom_id, EXPIRED_CODE, EXPIRED_MESSAGE)


def cancelled_outcome(custom_id: str) -> LineOutcome:
    return error_outcome(custom_id, CANCELLED_CODE, CANCELLED_MESSAGE)


def usage_of(body: Any) -> tuple[int, int]:
    """(input, output) tokens from a chat/completions-style or responses-style usage."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    input_tokens = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    output_tokens = usage.get("completion_tokens", usage.get("output_tokens", 0))
    return _int(input_tokens), _int(output_tokens)


def pick_line_fault(faults: BatchFaults, rng: random.Random) -> str | None:
    draw = rng.random()
    for kind, rate in (
        ("400", faults.line_400_rate),
        ("429", faults.line_429_rate),
        ("500", faults.line_500_rate),
        ("error", faults.line_error_rate),
    ):
        if draw < rate:
            return kind
        draw -= rate
    return None


def fault_outcome(custom_id: str, kind: str, faults: BatchFaults) -> LineOutcome:
    if kind == "400":
        return response_outcome(custom_id, 400, INJECTED_400_BODY)
    if kind == "429":
        return response_outcome(custom_id, 429, rate_limit_body())
    if kind == "500":
        return response_outcome(custom_id, 500, server_error_body())
    return error_outcome(
        custom_id,
        faults.line_error_code,
        "The request failed (injected by the emulator's line_error_rate fault).",
    )


def injected_fault(line: ParsedLine, faults: BatchFaults, rng: random.Random) -> LineOutcome | None:
    """The outcome of a fault drawn for `line`, or None when it is to be executed."""
    fault = pick_line_fault(faults, rng)
    return None if fault is None else fault_outcome(line.custom_id, fault, faults)


def execute_locally(raw: bytes, faults: BatchFaults, rng: random.Random) -> LineOutcome:
    line = parse_line(raw)
    faulted = injected_fault(line, faults, rng)
    if faulted is not None:
        return faulted
    try:
        body = generate(line.url, line.body)
    except LineRequestError as exc:
        return response_outcome(line.custom_id, exc.status_code, exc.body)
    return response_outcome(line.custom_id, 200, body)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _dump(line: dict[str, Any]) -> bytes:
    return orjson.dumps(line) + b"\n"
