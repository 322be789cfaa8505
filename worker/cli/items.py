"""Item commands: submit a Batch API input file, read results, inspect, retry dead letters."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from producers.errors import Rejection
from producers.models import Callback, Endpoint
from producers.producer import Producer
from producers.sending import SubmitReport
from worker.cli.output import console, open_output

FILE_CHUNK = 5000
ENDPOINTS = {e.value for e in Endpoint}


def read_input_lines(
    handle: IO[bytes], callback: Callback | None
) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    """Each line of a Batch API input file as a WorkItem dict, or the reason it is refused."""
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            yield number, Rejection(number, None, "line", f"invalid JSON: {error}")
            continue
        if not isinstance(line, dict):
            yield number, Rejection(number, None, "line", "not a JSON object")
            continue
        custom_id = line.get("custom_id")
        item_id = custom_id if isinstance(custom_id, str) else None
        missing = [k for k in ("custom_id", "method", "url", "body") if k not in line]
        if missing:
            yield number, Rejection(number, item_id, missing[0], "missing required parameter")
        elif line["method"] != "POST":
            yield number, Rejection(number, item_id, "method", "must be POST")
        elif line["url"] not in ENDPOINTS:
            yield (
                number,
                Rejection(number, item_id, "url", f"not a Batch API endpoint: {line['url']!r}"),
            )
        else:
            item: dict[str, Any] = {"id": custom_id, "endpoint": line["url"], "body": line["body"]}
            if callback is not None:
                item["callback"] = callback
            yield number, item


def submit_file(producer: Producer, handle: IO[bytes], callback: Callback | None) -> SubmitReport:
    """Feed an input file in chunks, so memory stays flat for 50,000 lines or more."""
    total = SubmitReport()
    chunk: list[dict[str, Any]] = []
    numbers: list[int] = []

    def flush() -> None:
        report = producer.submit_many(chunk)
        total.merge(report)  # all but the rejections, renumbered by input line here
        for r in report.rejected:
            line = numbers[r.index] if r.index is not None else None
            total.rejected.append(Rejection(line, r.item_id, r.field, r.message))
        chunk.clear()
        numbers.clear()

    for number, entry in read_input_lines(handle, callback):
        if isinstance(entry, Rejection):
            total.rejected.append(entry)
            continue
        chunk.append(entry)
        numbers.append(number)
        if len(chunk) >= FILE_CHUNK:
            flush()
    if chunk:
        flush()
    return total


def run_submit(args: argparse.Namespace) -> int:
    callback = None
    if args.callback_task or args.webhook:
        callback = Callback(task=args.callback_task, queue=args.callback_queue, url=args.webhook)
    producer = Producer.from_url()
    with Path(args.file).open("rb") if args.file != "-" else sys.stdin.buffer as handle:
        report = submit_file(producer, handle, callback)
    for r in report.rejected[:50]:
        where = f"line {r.index}" + (f" ({r.item_id})" if r.item_id else "")
        print(f"{where}: {r.field}: {r.message}", file=sys.stderr)
    if len(report.rejected) > 50:
        print(f"... and {len(report.rejected) - 50} more rejected lines", file=sys.stderr)
    print(
        f"accepted {len(report.accepted)}, duplicates {len(report.duplicates)}, "
        f"rejected {len(report.rejected)}, queue full {len(report.queue_full)}"
    )
    return 0 if report.ok else 1


def output_line(result: dict[str, Any]) -> bytes:
    """A result in the Batch API's output line format (plus our status and attempt)."""
    return orjson.dumps(
        {
            "id": f"batchrelay_{result.get('idempotency_key', result['id'])}",
            "custom_id": result["custom_id"],
            "response": result.get("response"),
            "error": result.get("error"),
            "status": result.get("status"),
        }
    )


def run_results(args: argparse.Namespace) -> int:
    from worker.cli.progress import in_flight, wait_for_idle

    producer = Producer.from_url()
    if args.wait and not wait_for_idle(producer, args.timeout):
        print(
            f"timed out after {args.timeout}s with {in_flight(producer)} items in flight",
            file=sys.stderr,
        )
        return 2
    with open_output(args.output) as out:
        count = 0
        for result in producer.all_results():
            out.write(output_line(result) + b"\n")
            count += 1
    if args.output:
        console().print(f"wrote {count} results to {args.output}")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    producer = Producer.from_url()
    status = producer.status(args.item)
    result = producer.result(args.item)
    data = {"status": status.__dict__, "result": result}
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    c = console()
    c.print(
        f"[bold]{status.id}[/] {status.state} "
        f"(attempt {status.attempt}, partition {status.partition})"
    )
    for state, stamp in status.timestamps.items():
        c.print(f"  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(stamp))}  {state}")
    if status.batch_id:
        c.print(f"  batch: {status.batch_id}")
    if status.history:
        c.print(f"  failures (attempt:code): {status.history}")
    if status.code:
        c.print(f"  last error: {status.code}: {status.message}")
    if result is not None:
        c.print_json(orjson.dumps(result).decode())
    return 0


def run_retry(args: argparse.Namespace) -> int:
    from producers.settings import Settings
    from worker.store import Store

    producer = Producer.from_url()
    store = Store(producer.redis, Settings())
    retried = sum(
        store.outcomes.retry_dead(p.tag, args.reason or "") for p in store.partitions.all()
    )
    print(
        f"retried {retried} dead-lettered items"
        + (f" with reason {args.reason}" if args.reason else "")
    )
    return 0


def add_item_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    submit = sub.add_parser("submit", help="submit a Batch API input file (JSONL)")
    submit.add_argument("file", help="path, or - for standard input")
    submit.add_argument("--callback-task", help="Celery task to receive each result")
    submit.add_argument("--callback-queue", default="celery")
    submit.add_argument("--webhook", help="URL to POST each result to")
    submit.set_defaults(handler=run_submit)
    results = sub.add_parser("results", help="finished items as Batch API output lines")
    results.add_argument(
        "--wait", action="store_true", help="first wait until nothing is in flight"
    )
    results.add_argument("--timeout", type=float, default=3600.0)
    results.add_argument("--output", "-o", help="write to this file instead of standard output")
    results.set_defaults(handler=run_results)
    inspect = sub.add_parser("inspect", help="an item's states, batch, attempts and result")
    inspect.add_argument("item")
    inspect.add_argument("--json", action="store_true")
    inspect.set_defaults(handler=run_inspect)
    retry = sub.add_parser(
        "retry", help="retry dead-lettered items (queued again, for a first attempt)"
    )
    retry.add_argument("--reason", help="only items whose dead-letter code starts with this")
    retry.set_defaults(handler=run_retry)
