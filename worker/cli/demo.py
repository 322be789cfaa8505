"""`batchrelay demo`: bring the stack up, push the Batch API tutorial's two reviews plus
1,000 generated items through it, and print the two answers; then send the two reviews once
more as a Batch API client would, through the gateway with the openai SDK."""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from redis import Redis

from producers.models import WorkItem
from producers.producer import Producer
from producers.settings import Settings
from worker.cli.output import console
from worker.cli.progress import track
from worker.cli.stack import Stack, StackOptions

REVIEWS = (
    "The product arrived on time and works perfectly.",
    "Terrible experience, would not recommend.",
)
SYSTEM_PROMPT = (
    "Classify the sentiment of the customer review as positive or negative. Answer with one word."
)
DEMO_ENV = {
    "BATCHRELAY_FLUSH_AFTER": "1",
    "BATCHRELAY_POLL_INTERVAL": "1",
    "BATCHRELAY_AGGREGATE_INTERVAL": "0.5",
    "BATCHRELAY_HOUSEKEEPING_INTERVAL": "5",
}


def review_item(item_id: str, review: str) -> WorkItem:
    return WorkItem(
        id=item_id,
        body={
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": review},
            ],
            "max_tokens": 5,
        },
    )


def answer_of(result: dict[str, Any] | None) -> str:
    if not result or not result.get("response"):
        return f"(no answer: {result.get('error') if result else 'no result'})"
    return str(result["response"]["body"]["choices"][0]["message"]["content"])


def gateway_answers(base_url: str, key: str, timeout: float) -> list[tuple[str, str]]:
    """The tutorial's batch, unchanged but for its base URL: upload, create, poll, download."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=key)
    lines = [
        orjson.dumps(
            {
                "custom_id": f"review-{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": review_item(f"r{n}", text).body,
            }
        )
        for n, text in enumerate(REVIEWS, 1)
    ]
    uploaded = client.files.create(file=("reviews.jsonl", b"\n".join(lines)), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    deadline = time.monotonic() + timeout
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        if time.monotonic() > deadline:
            return [(text, f"(batch {batch.id} still {batch.status})") for text in REVIEWS]
        time.sleep(1)
        batch = client.batches.retrieve(batch.id)
    if batch.output_file_id is None:
        return [(text, f"(batch {batch.status})") for text in REVIEWS]
    results = {}
    for line in client.files.content(batch.output_file_id).text.splitlines():
        record = orjson.loads(line)
        results[record["custom_id"]] = answer_of(record)
    return [(text, results.get(f"review-{n}", "(missing)")) for n, text in enumerate(REVIEWS, 1)]


def run_demo(args: argparse.Namespace) -> int:
    options = StackOptions(
        data_dir=args.data_dir,
        concurrency=2,
        flower=False,
        force_emulator=not args.real,
        emulator_args=["--batch-seconds", "2"],
        env=dict(DEMO_ENV),
        quiet=not args.verbose,
        private_redis=args.private_redis,
    )
    stack = Stack(options)
    c = console()
    env = stack.start()
    try:
        for note in stack.notes:
            c.print(note)
        url = env["BATCHRELAY_REDIS_URL"]
        producer = Producer(Redis.from_url(url), Settings(redis_url=url))
        run = uuid.uuid4().hex[:8]
        items = [review_item(f"demo-{run}-review-{n}", text) for n, text in enumerate(REVIEWS, 1)]
        items += [
            review_item(f"demo-{run}-{n:04d}", f"Generated review number {n}.")
            for n in range(args.items)
        ]
        report = producer.submit_many(items)
        c.print(f"submitted {len(report.accepted)} items")
        ids = [i.id for i in items]

        def delivered() -> int:
            return sum(1 for s in producer.states(ids).values() if s == "delivered")

        if not track(len(ids), delivered, args.timeout, "batch results"):
            c.print(f"[red]timed out after {args.timeout}s[/]")
            return 1
        for item, text in zip(items, REVIEWS, strict=False):
            print(f"{text!r} -> {answer_of(producer.result(item.id))}")
        if stack.gateway_url and stack.gateway_key:
            print(f"the same through the gateway at {stack.gateway_url} (openai SDK):")
            for text, answer in gateway_answers(stack.gateway_url, stack.gateway_key, args.timeout):
                print(f"{text!r} -> {answer}")
        return 0
    finally:
        stack.stop()


def add_demo_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="run two tutorial reviews and 1,000 items end to end")
    demo.add_argument("--items", type=int, default=1000)
    demo.add_argument("--timeout", type=float, default=300.0)
    demo.add_argument(
        "--real", action="store_true", help="use OPENAI_API_KEY instead of the emulator"
    )
    demo.add_argument("--verbose", action="store_true", help="show the worker's and beat's logs")
    demo.add_argument("--data-dir", type=Path, default=Path(".batchrelay"))
    demo.add_argument(
        "--private-redis",
        action="store_true",
        help="start a private Redis even if one answers on 127.0.0.1:6379",
    )
    demo.set_defaults(handler=run_demo)
