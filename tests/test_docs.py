"""The docs name every setting and every Redis key, and the README's links lead somewhere."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from producers.keys import Keys
from producers.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented() -> None:
    page = (REPO / "docs" / "operating" / "settings.md").read_text()
    missing = [name for name in Settings.model_fields if f"`BATCHRELAY_{name.upper()}`" not in page]
    assert not missing, f"not in docs/operating/settings.md: {missing}"


PLACEHOLDERS = {
    "number": "<n>",
    "item_id": "<id>",
    "batch_id": "<id>",
    "provider": "<provider>",
    "provider_id": "<provider-id>",
    "model": "<model>",
    "tenant": "<tenant>",
    "file_id": "<file-id>",
}


def key_names(obj: object) -> list[str]:
    """Every key an object of producers/keys.py names, with placeholders for its arguments."""
    names = []
    for name, member in vars(type(obj)).items():
        if name.startswith("_") or name in ("namespace", "partition"):
            continue
        if isinstance(member, property):
            names.append(getattr(obj, name))
        elif callable(member):
            parameters = list(inspect.signature(member).parameters)[1:]
            names.append(getattr(obj, name)(*(PLACEHOLDERS[p] for p in parameters)))
    return names


def test_every_key_is_in_the_glossary() -> None:
    glossary = (REPO / "producers" / "keys.md").read_text()
    names = key_names(Keys()) + [
        name.removeprefix("br:{tag}:") for name in key_names(Keys().partition("tag"))
    ]
    missing = [name for name in names if f"`{name.removesuffix(':')}" not in glossary]
    assert not missing, f"not in producers/keys.md: {missing}"


def test_the_readmes_links_lead_to_files() -> None:
    for page in ("README.md", "CONTRIBUTING.md"):
        for target in re.findall(r"\]\(([^)#]+)\)", (REPO / page).read_text()):
            if not target.startswith("http"):
                assert (REPO / target).exists(), f"{page} links to a missing {target}"
