"""Reading the Batch API's output and error lines: which item, what happened, retry or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from worker.store import Outcome

RETRYABLE_CODES = frozenset(
    {
        "batch_expired",
        "batch_cancelled",
        "rate_limit_exceeded",
        "server_error",
        "timeout",
        "internal_error",
        "service_unavailable",
        "token_limit_exceeded",
    }
)


@dataclass(slots=True)
class ParsedLine:
    """One line of an output or error file, reduced to what we store."""

    outcome: Outcome
    usage: dict[str, int]


class BadLine(ValueError):
    """A line that is not valid JSON or lacks a custom_id; counted and logged, never fatal."""


def usage_of(body: Any) -> dict[str, int]:
    """Token usage from a response body of any endpoint (chat, responses, embeddings...)."""
    if not isinstance(body, dict):
        return {}
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return {}
    prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
    out = {}
    if isinstance(prompt, int):
        out["input"] = prompt
    if isinstance(completion, int):
        out["output"] = completion
    return out


def is_retryable(status: int | None, code: str) -> bool:
    if status is not None and (status == 429 or status >= 500 or status == 408):
        return True
    return code in RETRYABLE_CODES


def parse_line(raw: bytes) -> ParsedLine:
    """Classify one output/error line: ok, retry (counts an attempt) or dead."""
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadLine("not valid JSON") from None
    if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
        raise BadLine("no custom_id")
    custom_id = line["custom_id"]
    response = line.get("response")
    error = line.get("error")
    if isinstance(error, dict) and error:
        code = str(error.get("code") or "error")
        kind = "retry" if is_retryable(None, code) else "dead"
        message = str(error.get("message") or "")
        return ParsedLine(Outcome(custom_id, kind, response, error, code, message), {})
    if not isinstance(response, dict) or not isinstance(response.get("status_code"), int):
        raise BadLine(f"{custom_id}: neither a response nor an error")
    status = response["status_code"]
    body = response.get("body")
    if status < 400:
        return ParsedLine(Outcome(custom_id, "ok", response, None), usage_of(body))
    detail = body.get("error") if isinstance(body, dict) else None
    detail = detail if isinstance(detail, dict) else {}
    code = str(detail.get("code") or detail.get("type") or f"http_{status}")
    message = str(detail.get("message") or f"HTTP {status}")
    kind = "retry" if is_retryable(status, code) else "dead"
    err = {"code": code, "message": message, "status_code": status}
    return ParsedLine(Outcome(custom_id, kind, response, err, code, message), usage_of(body))
