"""The file store: records in memory, bodies on disk under `<data_dir>/files/`."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator import ids
from emulator.errors import NotFoundError
from emulator.pagination import cursor_page

PURPOSES = frozenset(
    {
        "assistants",
        "assistants_output",
        "batch",
        "batch_output",
        "fine-tune",
        "fine-tune-results",
        "vision",
        "user_data",
        "evals",
    }
)
BATCH_FILE_LIFETIME_SECONDS = 30 * 24 * 3600


@dataclass
class FileRecord:
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    expires_at: int | None
    """When the file is deleted by itself: ``expires_after`` at upload, else 30 days for the
    batch purposes, else never."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


class FileStore:
    """Files expire by themselves at their ``expires_at``, checked on every access; the
    ``ttl_scale`` compresses ``expires_after`` as the emulator compresses time."""

    def __init__(self, data_dir: Path, ttl_scale: float = 1.0) -> None:
        self.root = data_dir / "files"
        self.root.mkdir(parents=True, exist_ok=True)
        self.ttl_scale = ttl_scale
        self._records: dict[str, FileRecord] = {}

    def __len__(self) -> int:
        self._expire()
        return len(self._records)

    def _expire(self) -> None:
        now = time.time()
        for record in list(self._records.values()):
            if record.expires_at is not None and record.expires_at <= now:
                self.delete(record.id)

    def reserve(self) -> tuple[str, Path]:
        """A fresh id and the path its body is to be written to."""
        file_id = ids.file_id()
        return file_id, self.body_path(file_id)

    def body_path(self, file_id: str) -> Path:
        return self.root / file_id

    def add(
        self, file_id: str, filename: str, purpose: str, expires_after: int | None = None
    ) -> FileRecord:
        """Record an uploaded body; ``expires_after`` seconds (OpenAI's, anchored at creation)
        set when it expires."""
        size = self.body_path(file_id).stat().st_size
        now = int(time.time())
        expires_at = None
        if expires_after is not None:
            expires_at = now + max(1, round(expires_after * self.ttl_scale))
        elif purpose in ("batch", "batch_output"):
            expires_at = now + BATCH_FILE_LIFETIME_SECONDS
        record = FileRecord(file_id, filename, purpose, size, now, expires_at)
        self._records[file_id] = record
        return record

    def find(self, file_id: str) -> FileRecord | None:
        self._expire()
        return self._records.get(file_id)

    def get(self, file_id: str) -> FileRecord:
        record = self.find(file_id)
        if record is None:
            raise NotFoundError(f"No such File object: {file_id}", param="id")
        return record

    def delete(self, file_id: str) -> FileRecord:
        record = self._records.pop(file_id, None)
        if record is None:
            raise NotFoundError(f"No such File object: {file_id}", param="id")
        # A running batch keeps its input open, so unlinking under it is safe.
        with contextlib.suppress(FileNotFoundError):
            self.body_path(file_id).unlink()
        return record

    def page(
        self, *, purpose: str | None, order: str, after: str | None, limit: int
    ) -> dict[str, Any]:
        self._expire()
        records = [r for r in self._records.values() if purpose is None or r.purpose == purpose]
        if order == "desc":
            records.reverse()
        return cursor_page(
            records, after=after, limit=limit, id_of=lambda r: r.id, to_json=FileRecord.to_json
        )

    def clear(self) -> None:
        for file_id in list(self._records):
            self.delete(file_id)
        for stray in self.root.iterdir():
            with contextlib.suppress(OSError):
                stray.unlink()
