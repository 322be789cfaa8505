"""Our item ids as Anthropic custom_ids, and back.

Anthropic takes a custom_id of 1 to 64 letters, digits, '_' and '-'. An item id that is one
already goes as it is; any other (batchrelay allows printable ASCII) goes as ``x-`` and 48 hex
characters of its SHA-256, and comes back through the batch's own item ids: only the ids of
one batch are ever in question, so a hash that long never collides there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
HASHED = "x-"


def to_custom_id(item_id: str) -> str:
    """The custom_id that stands for ``item_id`` in an Anthropic batch."""
    if CUSTOM_ID.match(item_id) and not item_id.startswith(HASHED):
        return item_id
    return HASHED + hashlib.sha256(item_id.encode()).hexdigest()[:48]


class CustomIds:
    """custom_id -> item id, for the items of one batch."""

    def __init__(self, item_ids: Iterable[str]) -> None:
        self.item_ids = set(item_ids)
        self.hashed = {
            custom: item_id
            for item_id in self.item_ids
            if (custom := to_custom_id(item_id)) != item_id
        }

    def item_id(self, custom_id: str) -> str:
        """The item a custom_id stands for (itself, unless it was hashed)."""
        return self.hashed.get(custom_id, custom_id)

    def owns(self, custom_id: str) -> bool:
        """Whether the custom_id stands for one of the batch's items."""
        return self.item_id(custom_id) in self.item_ids
