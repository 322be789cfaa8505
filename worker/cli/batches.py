"""Batch and overview commands: status (with --json) and cancel."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson
from rich.progress_bar import ProgressBar
from rich.table import Table

from producers.connection import connect
from producers.data_format import FORMAT
from producers.errors import BatchrelayError
from producers.settings import Settings
from producers.status import BatchState
from worker.cli.output import console
from worker.providers import ProviderRegistry
from worker.store import Store


def overview(store: Store) -> dict[str, Any]:
    """Partitions, live batches and dead letters, as plain data."""
    now = time.time()
    partitions = []
    for p in store.partitions.all():
        oldest = store.queues.oldest_enqueued(p.tag)
        keys = store.keys_of(p.tag)
        partitions.append(
            {
                "partition": p.tag,
                "provider": p.provider,
                "endpoint": p.endpoint,
                "model": p.model,
                "tenant": p.tenant,
                "group": p.group,
                "queued": store.queues.depth(p.tag),
                "delayed": int(store.redis.zcard(keys.delayed)),
                "oldest_age_seconds": round(now - oldest, 1) if oldest else None,
                "dead_letters": int(store.redis.zcard(keys.dead)),
                "counts": store.partitions.counts(p.tag),
                "backoff_until": float(store.partitions.budget(p).get("backoff_until") or 0)
                or None,
            }
        )
    batches = []
    for batch_id in store.batches.live():
        b = store.batches.get(batch_id)
        batches.append(
            {
                "batch_id": batch_id,
                "provider": store.partitions.get(b.partition).provider,
                "provider_id": b.provider_id,
                "status": b.get("provider_status"),
                "requests": int(b.number("items")),
                "completed": int(b.number("provider_completed")),
                "failed": int(b.number("provider_failed")),
                "stuck": b.get("stuck") or None,
                "expires_in_seconds": round(b.number("expires_at") - now, 0)
                if b.number("expires_at")
                else None,
            }
        )
    return {"partitions": partitions, "live_batches": batches}


def registry(store: Store, settings: Settings) -> ProviderRegistry:
    """The providers, with short timeouts: a status or cancel command must not hang."""
    quick = settings.model_copy(update={"openai_timeout": 10.0, "openai_max_retries": 1})
    return ProviderRegistry(quick, lambda tag: store.partitions.get(tag).provider)


def provider_files(store: Store, settings: Settings) -> dict[str, Any]:
    """The batch files each provider in use holds (listed there, so it costs a call or a
    few each), and how many batches await deletion of what they left there."""
    from worker.lifecycle.files import held_at_provider

    providers = registry(store, settings)
    held: dict[str, Any] = {}
    for name in sorted({p.provider for p in store.partitions.all()}):
        try:
            held[name] = held_at_provider(providers.named(name))
        except BatchrelayError as error:
            held[name] = {"error": str(error)}
    return {"providers": held, "awaiting_cleanup": store.files.awaiting_cleanup()}


def run_status(args: argparse.Namespace) -> int:
    settings = Settings()

    from worker.metrics.cost import cost_summary

    store = Store(connect(settings), settings)
    data = overview(store)
    data["cost"] = cost_summary(store)
    data["provider_files"] = provider_files(store, settings)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    c = console()
    c.print(partition_table(data["partitions"]))
    batches = Table(title="live batches")
    for column in ("batch", "status", "progress", "done", "expires in"):
        batches.add_column(column)
    for b in data["live_batches"]:
        done = b["completed"] + b["failed"]
        bar = ProgressBar(total=max(b["requests"], 1), completed=done, width=30)
        stuck = f" [red]stuck in {b['stuck']}[/]" if b["stuck"] else ""
        batches.add_row(
            b["batch_id"],
            f"{b['status']}{stuck}",
            bar,
            f"{done}/{b['requests']}",
            f"{b['expires_in_seconds']:.0f}s" if b["expires_in_seconds"] is not None else "-",
        )
    c.print(batches)
    files = data["provider_files"]
    for name, held in files["providers"].items():
        if "error" in held:
            c.print(f"files at {name}: unknown ({held['error']})")
        else:
            c.print(f"files at {name}: {held['files']} ({held['bytes'] / 1e6:.1f} MB)")
    c.print(f"batches whose leftovers await deletion: {files['awaiting_cleanup']}")
    cost = data["cost"]
    c.print(
        f"cost at batch prices: ${cost['spent_usd']:.4f}; real-time equivalent "
        f"${cost['realtime_usd']:.4f}; saved ${cost['saved_usd']:.4f}"
    )
    for tenant, spent in sorted(cost["tenants"].items()):
        if tenant:
            c.print(f"  tenant {tenant}: ${spent['spent_usd']:.4f}")
    return 0


def partition_table(partitions: list[dict[str, Any]]) -> Table:
    """One row per provider, endpoint, model and tenant: the groups of a tenant (gateway
    batches) summed into it."""
    rows: dict[tuple[str, ...], list[float]] = {}
    for p in partitions:
        counts = p["counts"]
        row = rows.setdefault((p["provider"], p["endpoint"], p["model"], p["tenant"]), [0] * 5)
        row[0] += p["queued"] + p["delayed"]
        row[1] = max(row[1], p["oldest_age_seconds"] or 0)
        row[2] += counts.get("packed", 0) + counts.get("submitted", 0)
        row[3] += counts.get("delivered", 0)
        row[4] += p["dead_letters"]
    table = Table(title="partitions")
    columns = ("provider", "endpoint", "model", "tenant", "queued", "oldest", "in batches")
    for column in (*columns, "delivered", "dead"):
        table.add_column(column)
    for label, (queued, oldest, in_batches, delivered, dead) in sorted(rows.items()):
        table.add_row(
            *label,
            str(int(queued)),
            f"{oldest:.1f}s" if oldest else "-",
            *(str(int(n)) for n in (in_batches, delivered, dead)),
        )
    return table


def run_cancel(args: argparse.Namespace) -> int:
    settings = Settings()

    store = Store(connect(settings), settings)
    batch = store.batches.get(args.batch)
    if batch.state != BatchState.SUBMITTED or not batch.provider_id:
        print(f"batch {args.batch} is {batch.state}, not live at its provider", file=sys.stderr)
        return 1
    provider = registry(store, settings).of_partition(batch.partition)
    remote = provider.cancel(batch.provider_id)
    print(
        f"batch {args.batch} ({provider.name} {batch.provider_id}): {remote.status}; "
        "its unfinished items will be requeued"
    )
    return 0


def run_migrate(_args: argparse.Namespace) -> int:
    from worker.migrate import migrate

    settings = Settings()
    store = Store(connect(settings), settings)
    report = migrate(store.redis, store.keys)
    print(
        f"data in format {FORMAT}: {report.fields} fields renamed in {report.hashes} hashes, "
        f"{report.lists} segment lists moved"
    )
    return 0


def add_batch_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    status = sub.add_parser("status", help="partitions, live batches, dead letters and cost")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=run_status)
    cancel = sub.add_parser("cancel", help="cancel a live batch; its unfinished items are requeued")
    cancel.add_argument("batch", help="a batchrelay batch id (brb-...)")
    cancel.set_defaults(handler=run_cancel)
    migrate = sub.add_parser(
        "migrate",
        help="rewrite data of an older batchrelay in place (producers and workers stopped)",
    )
    migrate.set_defaults(handler=run_migrate)
