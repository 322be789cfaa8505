"""Redis replies (bytes) as text."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def text_hash(raw: Any) -> dict[str, str]:
    """A Redis hash reply as text fields and values."""
    return {text(k): text(v) for k, v in raw.items()}
