"""The Anthropic side over real HTTP: the shared subprocess emulator, and `--forward-url` for
`/v1/messages` lines."""

from __future__ import annotations

from emulator.testing import RunningEmulator, free_port, in_process_emulator
from tests.emulator.anthropic_helpers import (
    FAST,
    create,
    params,
    request,
    requests,
    results,
    wait_ended,
)


def test_a_subprocess_emulator_serves_message_batches(emu: RunningEmulator) -> None:
    client = emu.anthropic_client()
    batch = create(client, requests(4))
    done = wait_ended(client, batch.id)
    assert done.request_counts.succeeded == 4
    assert done.results_url == f"{emu.url}/v1/messages/batches/{batch.id}/results"
    assert {line.result.type for line in results(client, batch.id).values()} == {"succeeded"}


def test_forwarded_lines_get_the_upstream_answers_and_errors(emu: RunningEmulator) -> None:
    rows = [*requests(6), {"custom_id": "broken", "params": {"model": "m", "messages": []}}]
    expected = emu.anthropic_client().messages.create(**rows[0]["params"]).content

    with in_process_emulator(forward_url=emu.url, forward_concurrency=3, **FAST) as forwarding:
        client = forwarding.anthropic_client()
        done = wait_ended(client, create(client, rows).id)
        lines = results(client, done.id)

    assert (done.request_counts.succeeded, done.request_counts.errored) == (6, 1)
    first = lines["req-0"].result
    assert first.type == "succeeded" and first.message.content == expected
    broken = lines["broken"].result
    assert broken.type == "errored"
    assert broken.error.error.type == "invalid_request_error"
    assert broken.error.error.message == "max_tokens: Field required"


def test_an_unreachable_upstream_errors_every_request() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with in_process_emulator(forward_url=dead, **FAST) as forwarding:
        client = forwarding.anthropic_client()
        batch = create(client, [request("a"), request("b")])
        done = wait_ended(client, batch.id)
        lines = results(client, batch.id)
    assert done.request_counts.errored == 2
    assert {
        line.result.error.error.type for line in lines.values() if line.result.type == "errored"
    } == {"api_error"}


def test_realtime_messages_over_http(emu: RunningEmulator) -> None:
    answer = emu.anthropic_client().messages.create(**params("hello"))
    assert answer.type == "message" and answer.stop_reason == "end_turn"
