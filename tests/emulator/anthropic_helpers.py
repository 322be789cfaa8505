"""Helpers for the tests of the emulator's Anthropic side, driven by the `anthropic` SDK."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

from emulator.messages import ANTHROPIC_VERSION
from emulator.testing import EmulatorControls

FAST = {"batch_seconds": 0.3, "finalizing_seconds": 0.02, "seed": 4321}
MODEL = "claude-haiku-4-5"


def params(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def request(custom_id: str, text: str = "What is batching?", **extra: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "params": params(text, **extra)}


def requests(count: int, prefix: str = "req") -> list[dict[str, Any]]:
    return [request(f"{prefix}-{i}", f"Question {i}: what is batching?") for i in range(count)]


def create(client: anthropic.Anthropic, rows: list[dict[str, Any]]) -> MessageBatch:
    return client.messages.batches.create(requests=rows)  # type: ignore[arg-type]


def wait_ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 20.0) -> MessageBatch:
    deadline = time.monotonic() + timeout
    while (batch := client.messages.batches.retrieve(batch_id)).processing_status != "ended":
        if time.monotonic() > deadline:
            raise AssertionError(f"{batch_id} still {batch.processing_status} after {timeout}s")
        time.sleep(0.03)
    return batch


def results(
    client: anthropic.Anthropic, batch_id: str
) -> dict[str, MessageBatchIndividualResponse]:
    return {line.custom_id: line for line in client.messages.batches.results(batch_id)}


def headers(api_key: str = "any-key") -> dict[str, str]:
    return {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}


def raw(emulator: EmulatorControls, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request with Anthropic's headers, unless `headers` are given."""
    kwargs.setdefault("headers", headers())
    return emulator.request(method, path, **kwargs)
