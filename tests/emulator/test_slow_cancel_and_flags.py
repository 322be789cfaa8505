"""The switches added with the Anthropic side: their flags, and slow cancelling on the OpenAI
side too."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import openai

from emulator.cli import add_arguments, settings_from_args
from tests.emulator.helpers import chat_lines, submit, wait_for


def test_the_new_flags_reach_the_settings() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--http-529-rate",
            "0.2",
            "--cancel-seconds",
            "1.5",
            "--max-message-batch-requests",
            "10",
            "--max-message-batch-bytes",
            "4096",
        ]
    )
    settings = settings_from_args(args)
    assert (settings.faults.http_529_rate, settings.faults.cancel_seconds) == (0.2, 1.5)
    assert (settings.max_message_batch_requests, settings.max_message_batch_bytes) == (10, 4096)


def test_openai_batches_cancel_slowly_too(client: openai.OpenAI, tmp_path: Path) -> None:
    batch = submit(
        client,
        tmp_path,
        chat_lines(5),
        metadata={"emulator_stuck": "in_progress", "emulator_cancel_seconds": "0.6"},
    )
    wait_for(client, batch.id, ("in_progress",))
    started = time.monotonic()
    assert client.batches.cancel(batch.id).status == "cancelling"
    time.sleep(0.3)
    assert client.batches.retrieve(batch.id).status == "cancelling"
    done = wait_for(client, batch.id)
    assert done.status == "cancelled" and time.monotonic() - started >= 0.6
