"""`--forward-url`: every line goes to a real-time OpenAI-compatible server.

The upstream here is the shared emulator's own real-time endpoints.
"""

from __future__ import annotations

from pathlib import Path

import openai

from emulator.testing import RunningEmulator, free_port, running_emulator
from tests.emulator.helpers import by_custom_id, chat_line, chat_lines, read_jsonl, submit, wait_for


def test_forwarded_answers_and_errors_are_recorded(emu: RunningEmulator, tmp_path: Path) -> None:
    upstream = emu.client()
    rows = [*chat_lines(12), {**chat_line("broken", "x"), "body": {"model": "gpt-4o-mini"}}]
    expected = upstream.chat.completions.create(**rows[0]["body"]).choices[0].message.content

    with running_emulator(
        forward_url=emu.base_url, forward_concurrency=3, batch_seconds=0.2
    ) as fwd:
        client = fwd.client()
        done = wait_for(client, submit(client, tmp_path, rows).id)
        outputs = by_custom_id(read_jsonl(client, done.output_file_id))
        errors = read_jsonl(client, done.error_file_id)

    assert done.status == "completed" and done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (12, 1)
    assert outputs["req-0"]["response"]["body"]["choices"][0]["message"]["content"] == expected
    [error] = errors
    assert error["custom_id"] == "broken"
    assert error["response"]["status_code"] == 400
    assert error["response"]["body"]["error"]["param"] == "messages"
    assert done.usage is not None and done.usage.input_tokens > 0


def test_an_unreachable_upstream_gives_5xx_lines(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with running_emulator(forward_url=dead, batch_seconds=0.2) as fwd:
        client = fwd.client()
        done = wait_for(client, submit(client, tmp_path, chat_lines(2)).id)
        errors = read_jsonl(client, done.error_file_id)
    assert done.status == "completed" and done.output_file_id is None
    assert {e["response"]["status_code"] for e in errors} == {502}


def test_realtime_endpoints_answer_directly(client: openai.OpenAI) -> None:
    chat = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    assert chat.choices[0].message.content
    vectors = client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], dimensions=8
    )
    assert [len(d.embedding) for d in vectors.data] == [8, 8]
    response = client.responses.create(model="gpt-4.1-mini", input="hello")
    assert response.output_text
