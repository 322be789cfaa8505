"""`POST /v1/files`: the multipart body is parsed as it streams in, and the file's bytes go to
Redis in chunks of up to 1 MiB.

Starlette's form parser would spool the file first; here the memory an upload holds is one
chunk and what the network has just delivered, whatever the file's size, and the size cap cuts
the upload off as soon as it is crossed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from gateway.errors import GatewayError, invalid_request, missing_parameter
from gateway.filestore import CHUNK_BYTES, FileRecord, FileStore, new_file_id

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

PURPOSES = frozenset({"batch"})
MAX_FIELD_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024


class _FileTooLarge(Exception):
    pass


class _HeaderTooLarge(Exception):
    pass


class _MultipartUpload:
    """python-multipart's callbacks: form fields to memory, the `file` part's bytes to
    ``pending``, which the request loop moves to Redis after every network read."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_bytes = 0
        self.pending = bytearray()
        self.file_done = False
        self._field = bytearray()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._part_name = ""
        self._part_is_file = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self._field.clear()
        self._disposition = b""
        self._part_is_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]
        if len(self._header_name) > MAX_HEADER_BYTES:
            raise _HeaderTooLarge

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        if len(self._header_value) > MAX_HEADER_BYTES:
            raise _HeaderTooLarge

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._part_name = options.get(b"name", b"").decode("utf-8", "replace")
        # Only the first `file` part is the file; any later one is ignored.
        if self._part_name == "file" and b"filename" in options and self.filename is None:
            self._part_is_file = True
            self.filename = options[b"filename"].decode("utf-8", "replace")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part_is_file:
            self.file_bytes += end - start
            if self.file_bytes > self.max_file_bytes:
                raise _FileTooLarge
            self.pending += data[start:end]
        elif len(self._field) + end - start <= MAX_FIELD_BYTES:
            self._field += data[start:end]

    def on_part_end(self) -> None:
        if self._part_is_file:
            self.file_done = True
        elif self._part_name:
            self.fields[self._part_name] = self._field.decode("utf-8", "replace")


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise invalid_request(
            "The request must be multipart/form-data with a 'file' and a 'purpose' field.",
            param="file",
        )
    boundary: bytes = params[b"boundary"]
    return boundary


def _too_large(max_file_bytes: int) -> GatewayError:
    return GatewayError(
        413,
        f"File is too large: the maximum size of a file is {max_file_bytes} bytes.",
        param="file",
        code="file_too_large",
    )


class _ChunkWriter:
    """Pushes chunks to Redis in a task of its own, so the body keeps streaming in meanwhile
    (a push waited for in the request loop made an upload twice as slow); at most
    ``IN_FLIGHT`` chunks wait, so memory stays bounded. A failed push is kept and raised by
    the next put() or finish(); the task goes on taking (and dropping) chunks until the end,
    so a put() never waits for ever on a queue nobody reads."""

    IN_FLIGHT = 2

    def __init__(self, store: FileStore, file_id: str) -> None:
        self.store = store
        self.file_id = file_id
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(self.IN_FLIGHT)
        self.error: BaseException | None = None
        self.dropping = False
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while (chunk := await self.queue.get()) is not None:
            if self.error is None and not self.dropping:
                try:
                    await self.store.push_chunk(self.file_id, chunk)
                except Exception as error:  # raised in the request by put() or finish()
                    self.error = error

    async def put(self, chunk: bytes | None) -> None:
        """Queue a chunk (None: the end); raise the error a push failed with."""
        if self.error is not None:
            raise self.error
        await self.queue.put(chunk)

    async def finish(self) -> None:
        await self.put(None)
        await self.task
        if self.error is not None:
            raise self.error

    async def abandon(self) -> None:
        """Stop after the push under way (never cancelled: a Redis command cut off half way
        can leave its connection unusable for the next one, the discard of the chunks)."""
        self.dropping = True
        if not self.task.done():
            await self.queue.put(None)
            with contextlib.suppress(Exception):
                await self.task


async def _flush(upload: _MultipartUpload, writer: _ChunkWriter, final: bool) -> None:
    """Hand every full chunk waiting (and on ``final`` the rest) to the writer."""
    while len(upload.pending) >= CHUNK_BYTES or (final and upload.pending):
        with memoryview(upload.pending) as view:
            chunk = bytes(view[:CHUNK_BYTES])
        del upload.pending[:CHUNK_BYTES]
        await writer.put(chunk)


async def receive_upload(
    request: Request, store: FileStore, tenant: str, max_file_bytes: int
) -> FileRecord:
    """Stream the request's multipart body into the store; the file's record is written
    only once all of it is there and it is valid. On any failure nothing is kept."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > max_file_bytes + MAX_FIELD_BYTES:
        raise _too_large(max_file_bytes)
    upload = _MultipartUpload(max_file_bytes)
    parser = MultipartParser(_boundary(request), upload.callbacks())
    file_id = new_file_id()
    writer = _ChunkWriter(store, file_id)
    try:
        async for data in request.stream():
            parser.write(data)
            # A wrong purpose sent ahead of the file (as the SDK sends it) stops the upload.
            if (purpose := upload.fields.get("purpose")) is not None:
                _check_purpose(purpose)
            await _flush(upload, writer, final=False)
        parser.finalize()
        await _flush(upload, writer, final=True)
        await writer.finish()
        filename, purpose = _checked(upload)
    except BaseException as exc:
        await writer.abandon()
        await store.discard_chunks(file_id)
        if isinstance(exc, _FileTooLarge):
            raise _too_large(max_file_bytes) from None
        if isinstance(exc, _HeaderTooLarge):
            raise invalid_request("A part's header is too long.", param="file") from None
        if isinstance(exc, FormParserError):
            raise invalid_request("Invalid multipart body.", param="file") from None
        if isinstance(exc, ClientDisconnect):
            raise invalid_request("The upload ended before its body did.", param="file") from None
        raise
    return await store.commit_upload(tenant, file_id, filename, purpose, upload.file_bytes)


def _checked(upload: _MultipartUpload) -> tuple[str, str]:
    """The filename and purpose of a complete upload, or the 400 saying what is wrong."""
    purpose = upload.fields.get("purpose")
    if purpose is None:
        raise missing_parameter("purpose")
    if upload.filename is None or not upload.file_done:
        raise missing_parameter("file")
    _check_purpose(purpose)
    if upload.file_bytes == 0:
        raise invalid_request("The file is empty.", param="file", code="empty_file")
    if not upload.filename.lower().endswith(".jsonl"):
        raise invalid_request(
            f"Invalid file format for Batch API. Must be .jsonl (got {upload.filename[:200]!r}).",
            param="file",
            code="invalid_file_format",
        )
    return upload.filename, purpose


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise invalid_request(
            f"Invalid value for 'purpose': {purpose[:100]!r}. Supported values are: "
            + ", ".join(f"'{p}'" for p in sorted(PURPOSES))
            + ".",
            param="purpose",
            code="invalid_value",
        )
