"""`POST /v1/files`: the multipart body is streamed straight into the file store.

Starlette's form parser spools files to a temporary file first; parsing here writes each
chunk to its final place, so a 200 MB upload costs no memory and one disk write, and the
size cap cuts the upload off as soon as it is crossed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from emulator.config import EmulatorSettings
from emulator.errors import (
    InvalidRequestError,
    MissingParameterError,
    PayloadTooLargeError,
)
from emulator.files import PURPOSES, FileRecord, FileStore

MAX_FIELD_BYTES = 64 * 1024
# OpenAI's bounds of expires_after[seconds]: one hour to thirty days.
MIN_EXPIRES_AFTER, MAX_EXPIRES_AFTER = 3600, 30 * 24 * 3600


class _FileTooLarge(Exception):
    pass


class _MultipartUpload:
    """Callbacks for python-multipart: form fields to memory, the `file` part to disk."""

    def __init__(self, destination: Path, max_file_bytes: int) -> None:
        self.destination = destination
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_bytes = 0
        self._out: BinaryIO | None = None
        self._field = bytearray()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._part_name = ""
        self._part_is_file = False

    def on_part_begin(self) -> None:
        self._field.clear()
        self._disposition = b""
        self._part_is_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._part_name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options and self._part_name == "file" and self._out is None:
            self._part_is_file = True
            self.filename = options[b"filename"].decode("utf-8", "replace")
            self._out = self.destination.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part_is_file:
            assert self._out is not None
            self.file_bytes += end - start
            if self.file_bytes > self.max_file_bytes:
                raise _FileTooLarge
            self._out.write(data[start:end])
        elif len(self._field) + end - start <= MAX_FIELD_BYTES:
            self._field += data[start:end]

    def on_part_end(self) -> None:
        if self._part_is_file:
            assert self._out is not None
            self._out.close()
        elif self._part_name:
            self.fields[self._part_name] = self._field.decode("utf-8", "replace")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise InvalidRequestError(
            "The request must be multipart/form-data with a 'file' and a 'purpose' field.",
            param="file",
        )
    return params[b"boundary"]


def _too_large(max_file_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"File is too large: the maximum size for a batch file is {max_file_bytes} bytes.",
        param="file",
    )


async def receive_upload(
    request: Request, store: FileStore, settings: EmulatorSettings
) -> FileRecord:
    max_file_bytes = settings.max_file_bytes
    declared = int(request.headers.get("content-length") or 0)
    if declared > max_file_bytes + MAX_FIELD_BYTES:
        raise _too_large(max_file_bytes)
    boundary = _boundary(request)
    file_id, destination = store.reserve()
    upload = _MultipartUpload(destination, max_file_bytes)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": upload.on_part_begin,
            "on_part_data": upload.on_part_data,
            "on_part_end": upload.on_part_end,
            "on_header_field": upload.on_header_field,
            "on_header_value": upload.on_header_value,
            "on_header_end": upload.on_header_end,
            "on_headers_finished": upload.on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        _check_upload(upload)
        expires_after = _expires_after(upload.fields, settings.accept_expires_after)
    except BaseException as exc:
        upload.close()
        with contextlib.suppress(FileNotFoundError):
            destination.unlink()
        if isinstance(exc, _FileTooLarge):
            raise _too_large(max_file_bytes) from None
        if isinstance(exc, FormParserError):
            raise InvalidRequestError("Invalid multipart body.", param="file") from None
        raise
    assert upload.filename is not None
    return store.add(file_id, upload.filename, upload.fields["purpose"], expires_after)


def _expires_after(fields: dict[str, str], accepted: bool) -> int | None:
    """The seconds of ``expires_after`` (form fields ``expires_after[anchor|seconds]``)."""
    anchor = fields.get("expires_after[anchor]")
    seconds = fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if not accepted:
        raise InvalidRequestError(
            "Unknown parameter: 'expires_after'.", param="expires_after", code="unknown_parameter"
        )
    if anchor != "created_at":
        raise InvalidRequestError(
            f"Invalid value for 'expires_after.anchor': {anchor!r}. Supported values are: "
            "'created_at'.",
            param="expires_after.anchor",
            code="invalid_value",
        )
    if seconds is None or not seconds.isdigit():
        raise MissingParameterError("expires_after.seconds")
    if not MIN_EXPIRES_AFTER <= int(seconds) <= MAX_EXPIRES_AFTER:
        raise InvalidRequestError(
            f"Invalid 'expires_after.seconds': {seconds}. Expected a value between "
            f"{MIN_EXPIRES_AFTER} and {MAX_EXPIRES_AFTER}.",
            param="expires_after.seconds",
            code="invalid_value",
        )
    return int(seconds)


def _check_upload(upload: _MultipartUpload) -> None:
    purpose = upload.fields.get("purpose")
    if purpose is None:
        raise MissingParameterError("purpose")
    if upload.filename is None:
        raise MissingParameterError("file")
    if purpose not in PURPOSES:
        raise InvalidRequestError(
            f"Invalid value for 'purpose': '{purpose}'. Supported values are: "
            + ", ".join(f"'{p}'" for p in sorted(PURPOSES))
            + ".",
            param="purpose",
            code="invalid_value",
        )
    if purpose == "batch" and not upload.filename.lower().endswith(".jsonl"):
        raise InvalidRequestError(
            f"Invalid file format for Batch API. Must be .jsonl (got '{upload.filename}').",
            param="file",
            code="invalid_file_format",
        )
