"""A batch's output and error files, written line by line as lines finish.

Output order is shuffled without holding lines in memory: each line goes to one of several
bucket files chosen by a salted hash of its custom_id, and the buckets are joined in a random
order when the batch finalizes.
"""

from __future__ import annotations

import random
import shutil
import zlib
from pathlib import Path
from typing import BinaryIO, NamedTuple

from emulator.files import FileStore
from emulator.lines import LineOutcome

BUCKETS = 8


class JoinedFile(NamedTuple):
    file_id: str
    filename: str


class ShuffledJsonlWriter:
    def __init__(self, directory: Path, name: str, rng: random.Random) -> None:
        self.paths = [directory / f"{name}-{index}.jsonl" for index in range(BUCKETS)]
        self.rng = rng
        self.salt = rng.getrandbits(32)
        self.lines = 0
        self._files: list[BinaryIO | None] = [None] * BUCKETS

    def write(self, line: bytes, custom_id: str) -> None:
        index = (zlib.crc32(custom_id.encode()) ^ self.salt) % BUCKETS
        out = self._files[index]
        if out is None:
            out = self._files[index] = self.paths[index].open("wb")
        out.write(line)
        self.lines += 1

    def close(self) -> None:
        for out in self._files:
            if out is not None:
                out.close()

    def join_into(self, destination: Path) -> None:
        self.close()
        order = list(range(BUCKETS))
        self.rng.shuffle(order)
        with destination.open("wb") as joined:
            for index in order:
                if self._files[index] is None:
                    continue
                with self.paths[index].open("rb") as bucket:
                    shutil.copyfileobj(bucket, joined, 1024 * 1024)
                self.paths[index].unlink()


class BatchOutputs:
    """Successes to the output file, failures to the error file."""

    def __init__(self, work_dir: Path, rng: random.Random) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir = work_dir
        self.output = ShuffledJsonlWriter(work_dir, "output", rng)
        self.error = ShuffledJsonlWriter(work_dir, "error", rng)

    def write(self, outcome: LineOutcome) -> None:
        writer = self.output if outcome.succeeded else self.error
        writer.write(outcome.line, outcome.custom_id)

    def join(self, files: FileStore, batch_id: str) -> tuple[JoinedFile | None, JoinedFile | None]:
        """Joins the buckets into file bodies in the store; the caller registers them."""
        output = self._join(self.output, files, f"{batch_id}_output.jsonl")
        error = self._join(self.error, files, f"{batch_id}_error.jsonl")
        shutil.rmtree(self.work_dir, ignore_errors=True)
        return output, error

    def discard(self) -> None:
        self.output.close()
        self.error.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    @staticmethod
    def _join(writer: ShuffledJsonlWriter, files: FileStore, filename: str) -> JoinedFile | None:
        if writer.lines == 0:
            writer.close()
            return None
        file_id, path = files.reserve()
        writer.join_into(path)
        return JoinedFile(file_id, filename)
