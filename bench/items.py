"""Work items and output lines shaped like real traffic.

A chat item is a gpt-4o-mini chat completion request with a system prompt and a user
message; its request line (custom_id, method, url, body) is about 660 bytes. An output line
is what the Batch API writes for it: a chat.completion body with usage.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

MODEL = "gpt-4o-mini"
CHAT_URL = "/v1/chat/completions"
SYSTEM_PROMPT = (
    "You are a support assistant for an online store. Classify the customer's message as "
    "positive, negative or neutral, name the product it is about, and answer in one short "
    "sentence. Reply in the customer's language. Never promise refunds or delivery dates; if "
    "the message asks for one, say that a colleague from the orders team will follow up."
)
REVIEWS = (
    "The blender arrived two days late and the lid was cracked, but support replaced it quickly.",
    "Great headphones: the battery lasts all week and the noise cancelling works on the train.",
    "I ordered the blue running shoes in size 42 and received a pair in size 44, please help.",
    "The coffee grinder is loud, yet it grinds evenly and the cleaning brush is a nice touch.",
)
LINE_BYTES = 660


def item_id(n: int) -> str:
    return f"bench-{n:08d}"


def chat_body(n: int) -> dict[str, Any]:
    review = REVIEWS[n % len(REVIEWS)]
    return {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Order #{100000 + n}: {review}"},
        ],
        "max_tokens": 120,
        "temperature": 0.2,
    }


def chat_item(n: int, callback: bool = True) -> dict[str, Any]:
    """Item ``n`` as a producer passes it to Producer.submit / submit_many. With ``callback``
    it names a Celery task, so collecting it queues a delivery; without one, its result
    stored in Redis is its delivery, made as it is collected."""
    item: dict[str, Any] = {"id": item_id(n), "body": chat_body(n), "metadata": {"ticket": str(n)}}
    if callback:
        item["callback"] = {"task": "svc.on_result", "queue": "results"}
    return item


def chat_items(count: int, callback: bool = True) -> list[dict[str, Any]]:
    return [chat_item(n, callback) for n in range(count)]


def request_line(n: int) -> bytes:
    """The Batch API input line of item ``n``, serialized the way the producer does."""
    line = {"custom_id": item_id(n), "method": "POST", "url": CHAT_URL, "body": chat_body(n)}
    return orjson.dumps(line)


def request_lines(count: int) -> list[bytes]:
    return [request_line(n) for n in range(count)]


def output_line(custom_id: str, content_chars: int = 180) -> bytes:
    """A successful Batch API output line for ``custom_id`` with an answer this long."""
    sentence = "Negative: the blender arrived damaged; a replacement is on its way. "
    answer = sentence * (content_chars // len(sentence) + 1)
    body = {
        "id": f"chatcmpl-{custom_id[-8:]}a1b2c3d4e5f6a7b8c9d0e1",
        "object": "chat.completion",
        "created": 1_790_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": answer[:content_chars],
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 92,
            "completion_tokens": max(1, content_chars // 4),
            "total_tokens": 92 + max(1, content_chars // 4),
        },
        "system_fingerprint": "fp_0ba0d124f1",
    }
    line = {
        "id": f"batch_req_{custom_id[-8:]}0f1e2d3c4b5a69788796a5b4",
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": f"req_{custom_id[-8:]}c0ffee00c0ffee00",
            "body": body,
        },
        "error": None,
    }
    return orjson.dumps(line)


def content_for_line_bytes(line_bytes: int) -> int:
    """The answer length that makes an output line about ``line_bytes`` long."""
    base = len(output_line(item_id(0), 0))
    return max(0, line_bytes - base)


def write_output_file(path: Path, custom_ids: list[str], line_bytes: int = 0, seed: int = 7) -> int:
    """Write one output line per id, in shuffled order (the API keeps no order); returns bytes."""
    chars = content_for_line_bytes(line_bytes) if line_bytes else 180
    order = list(custom_ids)
    random.Random(seed).shuffle(order)
    size = 0
    with path.open("wb") as handle:
        for custom_id in order:
            line = output_line(custom_id, chars) + b"\n"
            handle.write(line)
            size += len(line)
    return size


def write_anthropic_results(path: Path, custom_ids: list[str], seed: int = 7) -> int:
    """Write one Message Batches result line per id (succeeded, the same answer as
    output_line's), shuffled as Anthropic returns them; returns bytes."""
    sentence = "Negative: the blender arrived damaged; a replacement is on its way. "
    answer = (sentence * 3)[:180]
    order = list(custom_ids)
    random.Random(seed).shuffle(order)
    size = 0
    with path.open("wb") as handle:
        for custom_id in order:
            message = {
                "id": f"msg_{custom_id[-8:]}a1b2c3d4e5f6a7b8c9d0",
                "type": "message",
                "role": "assistant",
                "model": "claude-haiku-4-5",
                "content": [{"type": "text", "text": answer}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 92, "output_tokens": 45},
            }
            result = {"type": "succeeded", "message": message}
            line = orjson.dumps({"custom_id": custom_id, "result": result}) + b"\n"
            handle.write(line)
            size += len(line)
    return size


def file_lines(path: Path) -> Iterator[bytes]:
    """The lines of a local JSONL file, without their newline."""
    with path.open("rb") as handle:
        for line in handle:
            yield line.rstrip(b"\n")
