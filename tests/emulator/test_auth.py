"""Bearer auth with `--api-key`; the control API needs none."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from emulator.testing import RunningEmulator, running_emulator


@pytest.fixture(scope="module")
def locked() -> Iterator[RunningEmulator]:
    with running_emulator(api_key="sk-only-this-one") as emulator:
        yield emulator


def test_the_configured_key_is_accepted(locked: RunningEmulator) -> None:
    assert locked.client().batches.list().data == []


def test_another_key_is_401_invalid_api_key(locked: RunningEmulator) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        locked.client(api_key="sk-wrong").files.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


def test_a_missing_key_is_401(locked: RunningEmulator) -> None:
    response = httpx.get(locked.base_url + "/batches")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_control_api_needs_no_key(locked: RunningEmulator) -> None:
    assert httpx.get(locked.url + "/_emulator/faults").status_code == 200
    assert locked.set_faults(line_500_rate=0.5)["line_500_rate"] == 0.5


def test_any_key_is_accepted_by_default(emu: RunningEmulator) -> None:
    assert emu.client(api_key="sk-anything").batches.list(limit=1) is not None
