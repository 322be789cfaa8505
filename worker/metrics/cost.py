"""Cost accounting: recorded token usage times a dated price table (overridable).

BATCHRELAY_PRICES_FILE points at a JSON file of the same shape as prices.json to override it;
a provider's own ``prices`` and ``batch_discount`` (producers/providers.py) come first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from worker.store import Partition, Store


@cache
def price_table(path: str | None = None) -> dict[str, Any]:
    source = path or os.environ.get("BATCHRELAY_PRICES_FILE")
    raw = (
        Path(source).read_bytes()
        if source
        else resources.files("worker.metrics").joinpath("prices.json").read_bytes()
    )
    return dict(orjson.loads(raw))


def price_of(model: str, table: dict[str, Any]) -> dict[str, float] | None:
    """Prices of a model, matching dated snapshots (gpt-4o-mini-2024-07-18) to their family."""
    models: dict[str, dict[str, float]] = table["models"]
    best = max(
        (name for name in models if model == name or model.startswith(name + "-")),
        key=len,
        default=None,
    )
    return models.get(best) if best else None


def cost_by_model(store: Store) -> dict[str, dict[str, float]]:
    """Tokens, batch cost and real-time cost per model, from the partitions' counters."""
    return cost_by(store, lambda partition: partition.model)


def cost_by_tenant(store: Store) -> dict[str, dict[str, float]]:
    """The same per tenant (items without a tenant under ""), for teams sharing an account."""
    return cost_by(store, lambda partition: partition.tenant)


def cost_by(store: Store, key: Callable[[Partition], str]) -> dict[str, dict[str, float]]:
    """Tokens, batch cost and real-time cost summed by ``key`` of each partition."""
    table = price_table()
    providers = store.settings.provider_config().providers
    out: dict[str, dict[str, float]] = {}
    for partition in store.partitions.all():
        counts = store.partitions.counts(partition.tag)
        tokens_in, tokens_out = counts.get("tokens_in", 0), counts.get("tokens_out", 0)
        discount = float(table.get("batch_discount", 0.5))
        prices = price_of(partition.model, table) or {"input": 0.0, "output": 0.0}
        provider = providers.get(partition.provider)
        if provider is not None:
            if provider.batch_discount is not None:
                discount = provider.batch_discount
            own = provider.prices.get(partition.model)
            if own is not None:
                prices = {"input": own.input, "output": own.output}
        realtime = (tokens_in * prices["input"] + tokens_out * prices["output"]) / 1_000_000
        entry = out.setdefault(
            key(partition),
            {"tokens_in": 0, "tokens_out": 0, "realtime_usd": 0.0, "spent_usd": 0.0},
        )
        entry["tokens_in"] += tokens_in
        entry["tokens_out"] += tokens_out
        entry["realtime_usd"] += realtime
        entry["spent_usd"] += realtime * discount
    return out


def cost_summary(store: Store) -> dict[str, Any]:
    models = cost_by_model(store)
    spent = sum(m["spent_usd"] for m in models.values())
    realtime = sum(m["realtime_usd"] for m in models.values())
    return {
        "spent_usd": spent,
        "realtime_usd": realtime,
        "saved_usd": realtime - spent,
        "prices_taken": price_table().get("taken"),
        "models": models,
        "tenants": cost_by_tenant(store),
    }
