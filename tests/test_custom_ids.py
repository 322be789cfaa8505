"""Our item ids as Anthropic custom_ids: every id batchrelay accepts maps to one Anthropic
takes, and back, without two ids of a batch ever sharing one."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from worker.providers.anthropic_ids import CUSTOM_ID, CustomIds, to_custom_id

# What batchrelay accepts as an item id: printable ASCII without spaces, 1 to 64 characters.
ITEM_IDS = st.text(
    alphabet=st.sampled_from([c for c in string.printable if c.isprintable() and c != " "]),
    min_size=1,
    max_size=64,
)


@given(st.lists(ITEM_IDS, min_size=1, max_size=50, unique=True))
def test_every_item_id_round_trips_through_a_custom_id(item_ids: list[str]) -> None:
    customs = [to_custom_id(i) for i in item_ids]
    assert all(CUSTOM_ID.match(c) for c in customs)
    assert len(set(customs)) == len(customs)
    back = CustomIds(item_ids)
    assert [back.item_id(c) for c in customs] == item_ids


def test_an_id_that_looks_hashed_is_hashed_itself() -> None:
    hashed = to_custom_id("order/1")
    assert hashed.startswith("x-") and len(hashed) == 50
    # An item really named like a hash does not pass for the item it would stand for.
    assert to_custom_id(hashed) != hashed
    assert CustomIds(["order/1", hashed]).item_id(hashed) == "order/1"
