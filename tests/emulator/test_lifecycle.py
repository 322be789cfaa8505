"""A batch per endpoint from upload to output file, and the Batch object along the way."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import openai

from tests.emulator.helpers import (
    SENTIMENT_PROMPT,
    by_custom_id,
    chat_line,
    chat_lines,
    read_jsonl,
    submit,
    wait_for,
)


def line(custom_id: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def run_batch(
    client: openai.OpenAI, tmp_path: Path, rows: list[dict[str, Any]], endpoint: str
) -> dict[str, dict[str, Any]]:
    batch = submit(client, tmp_path, rows, endpoint=endpoint)
    done = wait_for(client, batch.id)
    assert done.status == "completed", done
    assert done.error_file_id is None
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (len(rows), len(rows))
    results = by_custom_id(read_jsonl(client, done.output_file_id))
    assert set(results) == {row["custom_id"] for row in rows}
    for result in results.values():
        assert result["id"].startswith("batch_req_")
        assert result["error"] is None
        assert result["response"]["status_code"] == 200
        assert result["response"]["request_id"]
    return {cid: r["response"]["body"] for cid, r in results.items()}


def test_chat_batch_walks_every_status_and_fills_the_batch_object(
    client: openai.OpenAI, tmp_path: Path
) -> None:
    rows = chat_lines(8)
    batch = submit(client, tmp_path, rows, metadata={"purpose": "test"})
    assert batch.id.startswith("batch_")
    assert batch.object == "batch"
    assert batch.status == "validating"
    assert batch.endpoint == "/v1/chat/completions"
    assert batch.completion_window == "24h"
    assert batch.metadata == {"purpose": "test"}
    assert batch.expires_at == batch.created_at + 86400

    seen: list[str] = [batch.status]
    while seen[-1] != "completed":
        status = client.batches.retrieve(batch.id).status
        if status != seen[-1]:
            seen.append(status)
    done = client.batches.retrieve(batch.id)

    assert seen == ["validating", "in_progress", "finalizing", "completed"] or seen == [
        "validating",
        "in_progress",
        "completed",
    ]
    assert done.model == "gpt-4o-mini"
    assert done.in_progress_at and done.finalizing_at and done.completed_at
    assert batch.created_at <= done.in_progress_at <= done.finalizing_at <= done.completed_at
    assert done.failed_at is None and done.cancelled_at is None and done.expired_at is None
    assert done.errors is None
    assert done.usage is not None and done.usage.input_tokens > 0 and done.usage.output_tokens > 0
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    bodies = {
        r["custom_id"]: r["response"]["body"] for r in read_jsonl(client, done.output_file_id)
    }
    body = bodies["req-0"]
    assert body["object"] == "chat.completion"
    assert body["id"] and body["created"] and body["model"] == "gpt-4o-mini"
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert done.usage.input_tokens == sum(b["usage"]["prompt_tokens"] for b in bodies.values())


def test_request_counts_grow_while_in_progress(client: openai.OpenAI, tmp_path: Path) -> None:
    batch = submit(client, tmp_path, chat_lines(40), metadata={"emulator_batch_seconds": "1.5"})
    seen: set[int] = set()
    while (current := client.batches.retrieve(batch.id)).status != "completed":
        if current.status == "in_progress" and current.request_counts:
            seen.add(current.request_counts.completed)
    assert len({c for c in seen if 0 < c < 40}) >= 2, seen


def test_sentiment_answers_follow_the_review(client: openai.OpenAI, tmp_path: Path) -> None:
    reviews = {
        "good": "Great product, works perfectly and arrived early.",
        "bad": "Terrible quality, it broke after a day. Would not recommend.",
        "awful": "Awful customer service.",
    }
    rows = [chat_line(k, v, system=SENTIMENT_PROMPT) for k, v in reviews.items()]
    bodies = run_batch(client, tmp_path, rows, "/v1/chat/completions")
    answers = {k: b["choices"][0]["message"]["content"] for k, b in bodies.items()}
    assert answers == {"good": "positive", "bad": "negative", "awful": "negative"}


def test_answers_are_deterministic_and_output_order_is_shuffled(
    client: openai.OpenAI, tmp_path: Path
) -> None:
    rows = chat_lines(60)
    first = submit(client, tmp_path, rows, name="a.jsonl")
    second = submit(client, tmp_path, rows, name="b.jsonl")
    outputs = [read_jsonl(client, wait_for(client, b.id).output_file_id) for b in (first, second)]

    contents = [
        {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"] for r in out}
        for out in outputs
    ]
    assert contents[0] == contents[1]
    assert len(set(contents[0].values())) > 1
    order = [r["custom_id"] for r in outputs[0]]
    assert order != [row["custom_id"] for row in rows]


def test_embeddings_batch_honours_dimensions(client: openai.OpenAI, tmp_path: Path) -> None:
    model = "text-embedding-3-small"
    rows = [
        line("one", "/v1/embeddings", {"model": model, "input": "hello world"}),
        line(
            "many", "/v1/embeddings", {"model": model, "input": ["a", "b", "c"], "dimensions": 64}
        ),
        line("again", "/v1/embeddings", {"model": model, "input": "hello world"}),
    ]
    bodies = run_batch(client, tmp_path, rows, "/v1/embeddings")

    assert bodies["one"]["object"] == "list" and bodies["one"]["model"] == model
    assert len(bodies["one"]["data"][0]["embedding"]) == 1536
    many = bodies["many"]["data"]
    assert [d["index"] for d in many] == [0, 1, 2]
    for item in many:
        assert item["object"] == "embedding"
        assert len(item["embedding"]) == 64
        assert math.isclose(sum(x * x for x in item["embedding"]), 1.0, rel_tol=1e-9)
    assert many[0]["embedding"] != many[1]["embedding"]
    assert bodies["one"]["data"] == bodies["again"]["data"]
    assert bodies["many"]["usage"]["prompt_tokens"] == bodies["many"]["usage"]["total_tokens"] > 0


def test_responses_batch(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = [
        line("r1", "/v1/responses", {"model": "gpt-4.1-mini", "input": "Tell me about queues."}),
        line(
            "r2",
            "/v1/responses",
            {
                "model": "gpt-4.1-mini",
                "instructions": SENTIMENT_PROMPT,
                "input": [{"role": "user", "content": "Bad and awful, do not buy."}],
            },
        ),
    ]
    bodies = run_batch(client, tmp_path, rows, "/v1/responses")

    body = bodies["r1"]
    assert body["object"] == "response" and body["status"] == "completed"
    message = body["output"][0]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0]["type"] == "output_text" and message["content"][0]["text"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert bodies["r2"]["output"][0]["content"][0]["text"] == "negative"


def test_completions_batch(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = [
        line(
            "c1",
            "/v1/completions",
            {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello", "max_tokens": 50},
        )
    ]
    body = run_batch(client, tmp_path, rows, "/v1/completions")["c1"]
    assert body["object"] == "text_completion"
    assert body["choices"][0]["text"] and body["choices"][0]["index"] == 0
    assert body["usage"]["completion_tokens"] > 0


def test_moderations_batch(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = [
        line(
            "m1",
            "/v1/moderations",
            {"model": "omni-moderation-latest", "input": ["I will kill you", "What a nice day"]},
        ),
    ]
    body = run_batch(client, tmp_path, rows, "/v1/moderations")["m1"]
    flagged, clean = body["results"]
    assert flagged["flagged"] and flagged["categories"]["violence"]
    assert not clean["flagged"]
    assert set(flagged["category_scores"]) == set(flagged["categories"])


def test_request_body_errors_become_400_lines(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = [
        chat_line("ok", "hi"),
        line("no-messages", "/v1/chat/completions", {"model": "gpt-4o-mini"}),
    ]
    batch = submit(client, tmp_path, rows)
    done = wait_for(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None and done.request_counts.failed == 1
    [error] = read_jsonl(client, done.error_file_id)
    assert error["custom_id"] == "no-messages"
    assert error["response"]["status_code"] == 400
    assert error["response"]["body"]["error"]["param"] == "messages"
