"""Cursor pages as OpenAI lists them: `data`, `first_id`, `last_id`, `has_more`."""

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
