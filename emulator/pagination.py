"""Cursor pages: OpenAI's (`after`) and Anthropic's (`after_id` or `before_id`), both with
`data`, `first_id`, `last_id`, `has_more`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from emulator.errors import InvalidRequestError

T = TypeVar("T")


def check_limit(limit: int, maximum: int) -> int:
    if not 1 <= limit <= maximum:
        raise InvalidRequestError(
            f"Invalid 'limit': integer must be between 1 and {maximum}, got {limit}.",
            param="limit",
            code="integer_out_of_range",
        )
    return limit


def cursor_page(
    items: Sequence[T],
    *,
    after: str | None,
    limit: int,
    id_of: Callable[[T], str],
    to_json: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """One page of `items` (already in list order) following the item whose id is `after`."""
    start = 0
    if after is not None:
        # An unknown cursor gives an empty page rather than an error, as OpenAI does.
        start = len(items)
        for index, item in enumerate(items):
            if id_of(item) == after:
                start = index + 1
                break
    page = items[start : start + limit]
    data = [to_json(item) for item in page]
    return {
        "object": "list",
        "data": data,
        "first_id": id_of(page[0]) if page else None,
        "last_id": id_of(page[-1]) if page else None,
        "has_more": start + limit < len(items),
    }


def two_way_page(
    items: Sequence[T],
    *,
    before: str | None,
    after: str | None,
    limit: int,
    id_of: Callable[[T], str],
    to_json: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """The page of `items` (in list order) just before the item `before`, or just after the
    item `after`, as Anthropic lists them; an unknown cursor gives an empty page."""
    if before is not None and after is not None:
        raise InvalidRequestError("Only one of before_id and after_id may be given.")
    ids = [id_of(item) for item in items]
    if before is not None:
        end = ids.index(before) if before in ids else 0
        start = max(0, end - limit)
        has_more = start > 0
    else:
        start = 0 if after is None else ids.index(after) + 1 if after in ids else len(ids)
        end = start + limit
        has_more = end < len(ids)
    page = items[start:end]
    return {
        "data": [to_json(item) for item in page],
        "has_more": has_more,
        "first_id": id_of(page[0]) if page else None,
        "last_id": id_of(page[-1]) if page else None,
    }
