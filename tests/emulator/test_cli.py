"""The command line and `BATCHRELAY_EMULATOR_*` environment variables."""

from __future__ import annotations

import argparse
import subprocess
import sys

import httpx
import pytest

from emulator.cli import add_arguments, settings_from_args
from emulator.testing import RunningEmulator


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_flags_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHRELAY_EMULATOR_BATCH_SECONDS", "7")
    monkeypatch.setenv("BATCHRELAY_EMULATOR_LINE_500_RATE", "0.25")
    monkeypatch.setenv("BATCHRELAY_EMULATOR_PORT", "9000")

    settings = settings_from_args(parse("--port", "9100", "--fault-routes", "POST /v1/batches"))

    assert (settings.port, settings.batch_seconds) == (9100, 7.0)
    assert settings.faults.line_500_rate == 0.25
    assert settings.faults.routes == ["POST /v1/batches"]


def test_help_lists_the_fault_flags() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "emulator", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in ("--http-429-rate", "--line-400-rate", "--window-seconds", "--forward-url"):
        assert flag in shown


def test_unknown_routes_answer_openai_errors(emu: RunningEmulator) -> None:
    response = httpx.get(emu.base_url + "/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_info_reports_the_process(emu: RunningEmulator) -> None:
    info = emu.info()
    assert info["pid"] == emu.process.pid
    assert "api_key" not in info["settings"]
