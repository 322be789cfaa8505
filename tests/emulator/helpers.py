"""Helpers shared by the emulator tests: build JSONL, submit a batch, wait, read results."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import openai
from openai.types import Batch

FINISHED = ("completed", "failed", "expired", "cancelled")
SENTIMENT_PROMPT = (
    "Classify the sentiment of the review as positive or negative. Answer in one word."
)


def chat_line(
    custom_id: str, text: str, *, model: str = "gpt-4o-mini", system: str | None = None
) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": text})
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": messages},
    }


def chat_lines(count: int, prefix: str = "req") -> list[dict[str, Any]]:
    return [
        chat_line(f"{prefix}-{i}", f"Question number {i}: what is batching?") for i in range(count)
    ]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    with path.open("w") as out:
        for row in rows:
            out.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def upload(client: openai.OpenAI, path: Path) -> str:
    with path.open("rb") as handle:
        return client.files.create(file=handle, purpose="batch").id


def submit(
    client: openai.OpenAI,
    tmp_path: Path,
    rows: list[Any],
    *,
    endpoint: str = "/v1/chat/completions",
    metadata: dict[str, str] | None = None,
    name: str = "input.jsonl",
) -> Batch:
    file_id = upload(client, write_jsonl(tmp_path / name, rows))
    return client.batches.create(
        input_file_id=file_id,
        endpoint=endpoint,  # type: ignore[arg-type]
        completion_window="24h",
        metadata=metadata,
    )


def wait_for(
    client: openai.OpenAI,
    batch_id: str,
    statuses: tuple[str, ...] = FINISHED,
    timeout: float = 20.0,
) -> Batch:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} still {batch.status} after {timeout}s")
        time.sleep(0.05)


def read_jsonl(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def by_custom_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["custom_id"]: row for row in rows}
