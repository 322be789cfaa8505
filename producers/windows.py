"""Windows of prepared items: how submit_many streams any number of items, sync or async."""

from __future__ import annotations

from typing import Any

from producers.errors import InvalidItem, Rejection
from producers.models import PreparedItem, Router, WorkItem, prepare
from producers.storing import SUBMIT_CHUNK

# One chunk per window, two windows in flight (producers/sending.py): Redis gets the next
# chunk while it runs one, and never waits long for it. (Four chunks per round trip on sender
# threads left Redis idle a fifth of the time.)
WINDOW = SUBMIT_CHUNK
IN_FLIGHT = 2


class Windows:
    """Prepares items one by one and hands them over a full window at a time; an item that
    fails validation is recorded in ``rejected`` and never stops the others."""

    def __init__(self, max_line_bytes: int, route: Router, rejected: list[Rejection]) -> None:
        self.max_line_bytes = max_line_bytes
        self.route = route
        self.rejected = rejected
        self.window: list[PreparedItem] = []
        self.index = 0

    def add(self, raw: WorkItem | dict[str, Any] | PreparedItem) -> list[PreparedItem] | None:
        """Prepare the next item (a PreparedItem is taken as it is: validated already);
        return the window it filled, if it did."""
        index, self.index = self.index, self.index + 1
        if isinstance(raw, PreparedItem):
            self.window.append(raw)
        else:
            try:
                self.window.append(prepare(raw, index, self.max_line_bytes, self.route))
            except InvalidItem as error:
                self.rejected.extend(error.rejections)
                return None
        if len(self.window) < WINDOW:
            return None
        full, self.window = self.window, []
        return full

    def rest(self) -> list[PreparedItem] | None:
        """The last window, if it holds anything."""
        rest, self.window = self.window, []
        return rest or None
