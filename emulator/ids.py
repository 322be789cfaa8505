"""Object ids shaped like OpenAI's."""

from __future__ import annotations

import secrets


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + secrets.token_hex(length // 2 + 1)[:length]


def file_id() -> str:
    return new_id("file-")


def batch_id() -> str:
    return new_id("batch_", 32)


def batch_request_id() -> str:
    return new_id("batch_req_", 32)


def request_id() -> str:
    return new_id("req_", 32)
