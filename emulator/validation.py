"""Streaming validation of a batch input file, with OpenAI's error codes and 1-based lines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from emulator.embeddings import embedding_inputs

MAX_REPORTED_ERRORS = 1000
REQUIRED_FIELDS = ("custom_id", "method", "url", "body")


@dataclass(frozen=True)
class Limits:
    max_requests: int = 50_000
    max_embedding_inputs: int = 50_000
    models: frozenset[str] | None = None
    """Models that exist; None accepts any name that fits the endpoint."""
    check_model_family: bool = True


@dataclass
class ValidationReport:
    errors: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    model: str | None = None


def input_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for each non-blank line of a JSONL stream."""
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


def model_fits_endpoint(model: str, endpoint: str) -> bool:
    lowered = model.lower()
    if endpoint == "/v1/embeddings":
        return "embed" in lowered
    if endpoint == "/v1/moderations":
        return "moderation" in lowered
    return "embed" not in lowered and "moderation" not in lowered


class _Validator:
    def __init__(self, endpoint: str, limits: Limits) -> None:
        self.endpoint = endpoint
        self.limits = limits
        self.report = ValidationReport()
        self.custom_ids: set[str] = set()
        self.embedding_inputs = 0
        self.too_many_inputs_reported = False

    def error(self, code: str, line: int | None, message: str, param: str | None = None) -> None:
        if len(self.report.errors) < MAX_REPORTED_ERRORS:
            self.report.errors.append(
                {"code": code, "line": line, "message": message, "param": param}
            )

    def check(self, number: int, raw: bytes) -> None:
        self.report.total += 1
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.error("invalid_json_line", number, "This line is not parseable as valid JSON.")
            return
        if not isinstance(line, dict):
            self.error("invalid_json_line", number, "This line is not a JSON object.")
            return
        missing = [name for name in REQUIRED_FIELDS if line.get(name) is None]
        for name in missing:
            self.error(
                "missing_required_parameter", number, f"Missing required parameter: '{name}'.", name
            )
        if missing:
            return
        self.check_envelope(number, line)
        if isinstance(line["body"], dict):
            self.check_body(number, line["body"])

    def check_envelope(self, number: int, line: dict[str, Any]) -> None:
        custom_id = line["custom_id"]
        if not isinstance(custom_id, str) or not custom_id:
            self.error(
                "invalid_custom_id",
                number,
                "The 'custom_id' must be a non-empty string.",
                "custom_id",
            )
        elif custom_id in self.custom_ids:
            self.error(
                "duplicate_custom_id",
                number,
                f"The custom_id '{custom_id}' for this request is a duplicate of another "
                "request. The custom_id parameter must be unique for each request in a "
                "batch.",
                "custom_id",
            )
        else:
            self.custom_ids.add(custom_id)
        if line["method"] != "POST":
            self.error(
                "invalid_method",
                number,
                f"The method '{line['method']}' is not supported; only 'POST' is.",
                "method",
            )
        if line["url"] != self.endpoint:
            self.error(
                "invalid_url",
                number,
                f"The URL provided for this request ('{line['url']}') does not match the "
                f"batch endpoint ('{self.endpoint}').",
                "url",
            )
        if not isinstance(line["body"], dict):
            self.error("invalid_body", number, "The 'body' must be a JSON object.", "body")

    def check_body(self, number: int, body: dict[str, Any]) -> None:
        if body.get("stream") is True:
            self.error(
                "unsupported_value",
                number,
                "Streaming ('stream': true) is not supported in batch requests.",
                "body.stream",
            )
        model = body.get("model")
        if isinstance(model, str):
            self.check_model(number, model)
        if self.endpoint == "/v1/embeddings" and "input" in body:
            self.embedding_inputs += len(embedding_inputs(body["input"]))
            if (
                self.embedding_inputs > self.limits.max_embedding_inputs
                and not self.too_many_inputs_reported
            ):
                self.too_many_inputs_reported = True
                self.error(
                    "too_many_embedding_inputs",
                    number,
                    f"The batch has more than {self.limits.max_embedding_inputs} "
                    "embedding inputs across all requests.",
                    "body.input",
                )

    def check_model(self, number: int, model: str) -> None:
        known = self.limits.models
        if (known is not None and model not in known) or (
            self.limits.check_model_family and not model_fits_endpoint(model, self.endpoint)
        ):
            self.error(
                "model_not_found",
                number,
                f"The model '{model}' does not exist or is not supported with the "
                f"endpoint '{self.endpoint}' in the Batch API.",
                "body.model",
            )
            return
        if self.report.model is None:
            self.report.model = model
        elif model != self.report.model:
            self.error(
                "model_mismatch",
                number,
                f"The model '{model}' differs from the batch's model "
                f"'{self.report.model}': a batch file holds requests for one model only.",
                "body.model",
            )


def validate_input(stream: BinaryIO, endpoint: str, limits: Limits) -> ValidationReport:
    """Reads the file once, line by line; only the custom_ids are kept in memory."""
    validator = _Validator(endpoint, limits)
    stream.seek(0)
    for number, raw in input_lines(stream):
        if validator.report.total >= limits.max_requests:
            validator.error(
                "too_many_tasks",
                number,
                f"The batch input file has more than {limits.max_requests} "
                "requests, the most a batch may hold.",
            )
            break
        validator.check(number, raw)
    if validator.report.total == 0:
        validator.error("empty_file", None, "The batch input file is empty.")
    return validator.report
