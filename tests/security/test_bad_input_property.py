"""Random JSON thrown at submit, submit_many and `batchrelay submit`: only the documented errors
come out, and Redis holds exactly the accepted items."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from redis import Redis

from producers import InvalidItem, Producer
from producers.models import FIELD_SEPARATOR, Endpoint, WorkItem, field_of, prepare
from worker.cli.items import submit_file
from worker.testing import reset_database

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
IDS = st.one_of(
    st.text(max_size=70), st.integers(-(2**63), 2**63 - 1), st.none(), st.just("fixed-id")
)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"model": st.one_of(st.text(max_size=10), JSON)}, optional={"stream": JSON, "input": JSON}
    ),
)
ITEMS = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"body": BODIES},
        optional={
            "id": IDS,
            "endpoint": st.one_of(
                st.sampled_from([e.value for e in Endpoint]), st.text(max_size=15)
            ),
            "metadata": JSON,
            "callback": st.one_of(JSON, st.fixed_dictionaries({"url": st.text(max_size=30)})),
        },
    ),
)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def stored_ids(producer: Producer) -> set[str]:
    out = set()
    for tag in producer.partitions():
        prefix = producer.keys.partition(tag).item_prefix
        out |= {
            k.decode().removeprefix(prefix)
            for k in producer.redis.scan_iter(match=prefix + "*", count=1000)
        }
    return out


def check_lines(producer: Producer, ids: set[str]) -> None:
    for item_id in ids:
        line = orjson.loads(producer.request_line(item_id) or b"")
        assert line["custom_id"] == item_id and line["method"] == "POST"
        assert isinstance(line["body"]["model"], str) and line["body"].get("stream") in (
            None,
            False,
        )


@FUZZ
@given(items=st.lists(ITEMS, max_size=6))
def test_submit_many_accounts_for_every_item(
    items: list[Any], producer: Producer, redis: Redis
) -> None:
    reset_database(redis)
    report = producer.submit_many(items)
    assert len(report.accepted) + len(report.duplicates) + len(report.rejected) == len(items)
    assert all(r.field and r.message for r in report.rejected)
    assert stored_ids(producer) == set(report.accepted)
    check_lines(producer, set(report.accepted))


@FUZZ
@given(item=ITEMS)
def test_submit_raises_only_invalid_item_and_stores_nothing_then(
    item: Any, producer: Producer, redis: Redis
) -> None:
    reset_database(redis)
    try:
        item_id = producer.submit(item)
    except InvalidItem as error:
        assert error.rejections and str(error)
        assert stored_ids(producer) == set()
    else:
        assert stored_ids(producer) == {item_id}
        check_lines(producer, {item_id})


@FUZZ
@given(
    lines=st.lists(
        st.one_of(
            JSON.map(orjson.dumps),
            st.binary(max_size=40),
            ITEMS.map(
                lambda i: orjson.dumps(
                    {
                        "custom_id": i.get("id") if isinstance(i, dict) else i,
                        "method": "POST",
                        "url": i.get("endpoint", "/v1/chat/completions")
                        if isinstance(i, dict)
                        else "/v1/x",
                        "body": i.get("body") if isinstance(i, dict) else i,
                    },
                    default=str,
                )
            ),
        ),
        max_size=8,
    )
)
def test_batchrelay_submit_file_accounts_for_every_line(
    lines: list[bytes], producer: Producer, redis: Redis
) -> None:
    reset_database(redis)
    lines = [line.replace(b"\n", b" ") for line in lines]
    report = submit_file(producer, io.BytesIO(b"\n".join(lines) + b"\n"), None)
    non_empty = sum(1 for line in lines if line.strip())
    assert len(report.accepted) + len(report.duplicates) + len(report.rejected) == non_empty
    assert all(r.index is not None and r.index >= 1 for r in report.rejected)
    assert stored_ids(producer) == set(report.accepted)


@settings(max_examples=400, deadline=None)
@given(item=ITEMS)
def test_submit_validation_agrees_with_the_work_item_model(item: Any) -> None:
    """prepare() validates through a TypedDict twin of WorkItem; both must refuse the same
    items for a field the model names too (prepare may also refuse a body JSON cannot carry)."""
    try:
        WorkItem.model_validate(item)
    except ValidationError as error:
        with pytest.raises(InvalidItem) as caught:
            prepare(item, 0, 1_000_000)
        # With several problems each names one of them, not always the same one first.
        assert caught.value.rejections[0].field in {field_of(e) for e in error.errors()}
        return
    try:
        prepared = prepare(item, 0, 1_000_000)
    except InvalidItem as error:
        assert error.rejections[0].field == "body"
    else:
        assert orjson.loads(prepared.record.split(FIELD_SEPARATOR)[-1])["body"] == item["body"]
