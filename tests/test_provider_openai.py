"""The adapter of OpenAI-shaped Batch APIs, against the emulator over HTTP."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from emulator.testing import running_emulator
from producers.settings import Settings
from worker.providers.openai import OpenAIBatches

THIRTY_DAYS = 30 * 24 * 3600


def batch_file(tmp_path: Path) -> Path:
    path = tmp_path / "brb-0123456789ab-00.jsonl"
    path.write_text(
        '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
        '"body": {"model": "gpt-4o-mini", "messages": []}}\n'
    )
    return path


def test_uploads_expire_after_the_file_ttl(tmp_path: Path) -> None:
    with running_emulator() as emulator:
        client = emulator.client()
        api = OpenAIBatches(Settings(file_ttl=7200), client=client)
        remote = client.files.retrieve(api.upload(batch_file(tmp_path)))
        assert remote.expires_at == remote.created_at + 7200


def test_a_provider_refusing_expires_after_gets_uploads_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "batchrelay.openai")
    with running_emulator(refuse_expires_after=True) as emulator:
        client = emulator.client(max_retries=0)
        api = OpenAIBatches(Settings(file_ttl=7200), client=client)
        uploaded = [api.upload(batch_file(tmp_path)) for _ in range(3)]
        for file_id in uploaded:
            remote = client.files.retrieve(file_id)
            assert remote.expires_at == remote.created_at + THIRTY_DAYS  # the provider's own
    # Refused once, remembered: the next uploads did not try again.
    assert caplog.text.count("refuses expires_after") == 1


def test_deleting_a_file_that_is_gone_counts_as_done(tmp_path: Path) -> None:
    with running_emulator() as emulator:
        client = emulator.client()
        api = OpenAIBatches(Settings(), client=client)
        file_id = api.upload(batch_file(tmp_path))
        api.delete_file(file_id)
        api.delete_file(file_id)  # a second time: 404, which means it is gone
        assert [f.id for f in api.files()] == []
