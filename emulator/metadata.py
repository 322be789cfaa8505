"""Batch metadata: OpenAI's limits, and the `emulator_*` keys that set faults per batch."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from emulator.config import BatchFaults, Faults
from emulator.errors import InvalidRequestError

MAX_KEYS = 16
MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 512
FAULT_KEY_PREFIX = "emulator_"


def check_metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidRequestError(
            "Invalid type for 'metadata': expected an object.",
            param="metadata",
            code="invalid_type",
        )
    if len(metadata) > MAX_KEYS:
        raise InvalidRequestError(
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{MAX_KEYS} properties, but got an object with {len(metadata)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > MAX_KEY_CHARS:
            raise InvalidRequestError(
                f"Invalid 'metadata': key '{key[:20]}...' is {len(key)} characters long; "
                f"keys have at most {MAX_KEY_CHARS} characters.",
                param="metadata",
                code="string_above_max_length",
            )
        if not isinstance(value, str):
            raise InvalidRequestError(
                f"Invalid type for 'metadata.{key}': expected a string.",
                param=f"metadata.{key}",
                code="invalid_type",
            )
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidRequestError(
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum "
                f"length {MAX_VALUE_CHARS}, but got a string with length {len(value)} instead.",
                param=f"metadata.{key}",
                code="string_above_max_length",
            )
    return metadata


def batch_faults_for(metadata: dict[str, str] | None, faults: Faults) -> BatchFaults:
    """The server-wide batch faults, overridden by this batch's `emulator_*` metadata keys."""
    settings: dict[str, Any] = faults.model_dump(include=set(BatchFaults.model_fields))
    for key, value in (metadata or {}).items():
        if not key.startswith(FAULT_KEY_PREFIX):
            continue
        name = key.removeprefix(FAULT_KEY_PREFIX)
        if name not in BatchFaults.model_fields:
            known = ", ".join(FAULT_KEY_PREFIX + n for n in BatchFaults.model_fields)
            raise InvalidRequestError(
                f"Unknown emulator metadata key '{key}'. Known keys: {known}.",
                param=f"metadata.{key}",
            )
        settings[name] = None if value.lower() in ("", "none", "null") else value
    try:
        return BatchFaults.model_validate(settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "metadata"
        raise InvalidRequestError(
            f"Invalid value for 'metadata.{FAULT_KEY_PREFIX}{name}': {first['msg']}.",
            param=f"metadata.{FAULT_KEY_PREFIX}{name}",
            code="invalid_value",
        ) from None
