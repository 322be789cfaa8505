from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from emulator.testing import RunningEmulator, running_emulator

FAST = {
    "batch_seconds": 0.4,
    "validating_seconds": 0.05,
    "finalizing_seconds": 0.05,
    "seed": 1234,
}


@pytest.fixture(scope="session")
def shared_emulator() -> Iterator[RunningEmulator]:
    with running_emulator(**FAST) as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: RunningEmulator) -> RunningEmulator:
    """The shared emulator, with no faults set."""
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def client(emu: RunningEmulator) -> openai.OpenAI:
    return emu.client()
