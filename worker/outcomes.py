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
        # Anthropic's: the account is out of credit, which it gets back (402).
        "billing_error",
    }
)


@dataclass(slots=True)
class ParsedLine:
    """One line of an output or error file, reduced to what we store."""

    outcome: Outcome
    tokens: tuple[int, int]
    """(input, output) tokens the line reports."""


class BadLine(ValueError):
    """A line that is not valid JSON or lacks a custom_id; counted and logged, never fatal."""


def tokens_of(body: Any) -> tuple[int, int]:
    """(input, output) tokens from a response body of any endpoint (chat, responses,
    embeddings...); 0 where the body does not say."""
    usage = body.get("usage") if type(body) is dict else None
    if type(usage) is not dict:
        return 0, 0
    prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
    prompt = prompt if type(prompt) is int else 0
    # Anthropic counts prompt-cache reads and writes apart from input_tokens.
    for cached in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        extra = usage.get(cached)
        if type(extra) is int:
            prompt += extra
    return prompt, completion if type(completion) is int else 0


def is_retryable(status: int | None, code: str) -> bool:
    if status is not None and (status == 429 or status >= 500 or status == 408):
        return True
    return code in RETRYABLE_CODES


def success_of(line: Any) -> tuple[str, tuple[int, int]] | None:
    """(custom_id, its tokens) when a decoded line is plainly a success, else None.

    Nearly every line is one: this checks it without building an Outcome. A None does not
    mean the line is not a success; classify() decides that."""
    if type(line) is dict and not line.get("error"):
        custom_id, response = line.get("custom_id"), line.get("response")
        if type(custom_id) is str and type(response) is dict:
            status = response.get("status_code")
            if type(status) is int and status < 400:
                return custom_id, tokens_of(response.get("body"))
    return None


def parse_line(raw: bytes) -> Any:
    """One output/error line as JSON; raise BadLine."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadLine("not valid JSON") from None


def classify(line: Any) -> ParsedLine:
    """Classify one decoded output/error line: ok, retry (counts an attempt) or dead."""
    if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
        raise BadLine("no custom_id")
    custom_id = line["custom_id"]
    response = line.get("response")
    error = line.get("error")
    if isinstance(error, dict) and error:
        code = str(error.get("code") or "error")
        kind = "retry" if is_retryable(None, code) else "dead"
        message = str(error.get("message") or "")
        return ParsedLine(Outcome(custom_id, kind, response, error, code, message), (0, 0))
    if not isinstance(response, dict) or not isinstance(response.get("status_code"), int):
        raise BadLine(f"{custom_id}: neither a response nor an error")
    status = response["status_code"]
    body = response.get("body")
    if status < 400:
        return ParsedLine(Outcome(custom_id, "ok", response, None), tokens_of(body))
    detail = body.get("error") if isinstance(body, dict) else None
    detail = detail if isinstance(detail, dict) else {}
    code = str(detail.get("code") or detail.get("type") or f"http_{status}")
    message = str(detail.get("message") or f"HTTP {status}")
    kind = "retry" if is_retryable(status, code) else "dead"
    err = {"code": code, "message": message, "status_code": status}
    return ParsedLine(Outcome(custom_id, kind, response, err, code, message), tokens_of(body))
