"""`POST /v1/messages` and what every Anthropic route shares: the error envelope, the
`anthropic-version` header, `x-api-key` auth and the HTTP faults (429, 500, 529)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from emulator.testing import InProcessEmulator, in_process_emulator
from tests.emulator.anthropic_helpers import (
    FAST,
    MODEL,
    create,
    headers,
    params,
    raw,
    requests,
    wait_ended,
)


@pytest.fixture
def emulator() -> Iterator[InProcessEmulator]:
    with in_process_emulator(**FAST) as running:
        yield running


def test_a_message_is_deterministic_and_shaped_like_anthropics(
    emulator: InProcessEmulator,
) -> None:
    client = emulator.anthropic_client()
    first = client.messages.create(**params("How do batch APIs save money?"))
    again = client.messages.create(**params("How do batch APIs save money?"))

    assert first.id.startswith("msg_") and first.type == "message" and first.role == "assistant"
    assert first.model == MODEL
    assert first.stop_reason == "end_turn" and first.stop_sequence is None
    [block] = first.content
    assert block.type == "text" and "batch APIs save money" in block.text
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    assert first.usage.service_tier == "standard"
    assert again.model_dump() == first.model_dump()


def test_system_prompts_steer_the_answer(emulator: InProcessEmulator) -> None:
    answer = emulator.anthropic_client().messages.create(
        **params("The product broke after a day. Terrible."),
        system="Classify the sentiment of the review as positive or negative.",
    )
    assert answer.content[0].type == "text" and answer.content[0].text == "negative"


def test_max_tokens_and_stop_sequences_end_the_answer_early(emulator: InProcessEmulator) -> None:
    client = emulator.anthropic_client()
    # Every answer names its topic, the question's first words.
    stopped = client.messages.create(**params("Tell me about queues"), stop_sequences=["queues"])
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "queues"
    assert stopped.content[0].type == "text"
    assert stopped.content[0].text.endswith('"Tell me about ')

    cut = client.messages.create(**{**params("Tell me about queues"), "max_tokens": 2})
    assert cut.stop_reason == "max_tokens" and cut.stop_sequence is None
    assert cut.usage.output_tokens <= 2


def test_structured_output_fills_the_schema(emulator: InProcessEmulator) -> None:
    schema = {
        "type": "object",
        "properties": {"label": {"enum": ["positive", "negative"]}, "score": {"type": "number"}},
        "required": ["label", "score"],
        "additionalProperties": False,
    }
    answer = emulator.anthropic_client().messages.create(
        **params("Great product"),
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert answer.content[0].type == "text"
    assert json.loads(answer.content[0].text) == {"label": "positive", "score": 0.5}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"messages": []}, "messages: at least one message is required"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role: Input should be"),
        ({"messages": [{"role": "user"}]}, "messages.0.content: Field required"),
    ],
)
def test_invalid_params_are_400_invalid_request_error(
    emulator: InProcessEmulator, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        emulator.anthropic_client().messages.create(**{**params("hi"), **change})
    assert caught.value.status_code == 400
    assert caught.value.type == "invalid_request_error"
    assert caught.value.message.startswith("Error code: 400")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["message"].startswith(message)


def test_error_bodies_are_anthropics_envelope(emulator: InProcessEmulator) -> None:
    missing = raw(emulator, "POST", "/v1/messages", json={"model": MODEL, "messages": []})
    assert missing.status_code == 400
    body = missing.json()
    assert body["type"] == "error" and body["request_id"].startswith("req_")
    assert body["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }

    unparsable = raw(emulator, "POST", "/v1/messages", content=b"{not json")
    assert unparsable.status_code == 400 and unparsable.json()["type"] == "error"

    nowhere = raw(emulator, "GET", "/v1/messages/batches/msgbatch_x/nothing")
    assert nowhere.status_code == 404
    assert nowhere.json()["error"]["type"] == "not_found_error"


def test_streaming_is_refused(emulator: InProcessEmulator) -> None:
    response = raw(emulator, "POST", "/v1/messages", json={**params("hi"), "stream": True})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("stream:")


def test_the_anthropic_version_header_is_required(emulator: InProcessEmulator) -> None:
    response = raw(emulator, "POST", "/v1/messages", json=params("hi"), headers={"x-api-key": "k"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "anthropic-version: header is required"


def test_an_unknown_model_is_404_when_models_are_listed() -> None:
    with in_process_emulator(models=[MODEL]) as emulator:
        client = emulator.anthropic_client()
        assert client.messages.create(**params("hi")).model == MODEL
        with pytest.raises(anthropic.NotFoundError) as caught:
            client.messages.create(**{**params("hi"), "model": "claude-nonexistent"})
    assert caught.value.type == "not_found_error"


def test_the_api_key_is_accepted_from_x_api_key_or_bearer() -> None:
    key = "sk-ant-only-this-one"
    with in_process_emulator(api_key=key) as emulator:
        assert emulator.anthropic_client(api_key=key).messages.batches.list().data == []
        with pytest.raises(anthropic.AuthenticationError) as caught:
            emulator.anthropic_client(api_key="sk-ant-wrong").messages.create(**params("hi"))
        missing = raw(emulator, "GET", "/v1/messages/batches", headers=headers(""))
        bearer = {"authorization": f"Bearer {key}", "anthropic-version": "2023-06-01"}
        by_bearer = raw(emulator, "GET", "/v1/messages/batches", headers=bearer)
        openai_by_x_api_key = emulator.request("GET", "/v1/batches", headers={"x-api-key": key})
        openai_error = emulator.request("GET", "/v1/batches", headers={"x-api-key": "nope"})

    assert caught.value.status_code == 401
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": caught.value.body["request_id"],  # type: ignore[index]
    }
    assert missing.status_code == 401
    assert missing.json()["error"]["message"] == "x-api-key header is required"
    assert by_bearer.status_code == 200 and openai_by_x_api_key.status_code == 200
    assert openai_error.status_code == 401
    assert openai_error.json()["error"]["code"] == "invalid_api_key"


def test_429_carries_retry_after_in_anthropics_envelope(emulator: InProcessEmulator) -> None:
    emulator.set_faults(http_429_rate=1.0, retry_after_seconds=2)
    response = raw(emulator, "GET", "/v1/messages/batches")
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.json()["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.RateLimitError):
        emulator.anthropic_client(max_retries=0).messages.create(**params("hi"))


def test_500_and_529_faults(emulator: InProcessEmulator) -> None:
    client = emulator.anthropic_client(max_retries=0)
    emulator.set_faults(http_500_rate=1.0)
    with pytest.raises(anthropic.InternalServerError) as server_error:
        client.messages.batches.list()
    assert server_error.value.status_code == 500 and server_error.value.type == "api_error"

    emulator.set_faults(http_500_rate=0.0, http_529_rate=1.0)
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        client.messages.create(**params("hi"))
    assert overloaded.value.status_code == 529 and overloaded.value.type == "overloaded_error"
    # 529 is Anthropic's: the OpenAI routes do not answer it.
    assert emulator.client(max_retries=0).batches.list().data == []


def test_sdk_retries_get_through_a_partial_429_rate(emulator: InProcessEmulator) -> None:
    emulator.set_faults(http_429_rate=0.5, retry_after_seconds=0.01)
    client = emulator.anthropic_client(max_retries=12)
    retries = 0
    for _ in range(12):
        answer = client.messages.with_raw_response.create(**params("hi"))
        retries += answer.retries_taken
        assert answer.parse().type == "message"
    batch = create(client, requests(3))
    assert wait_ended(client, batch.id).request_counts.succeeded == 3
    assert retries > 0


def test_http_faults_follow_the_route_filter(emulator: InProcessEmulator) -> None:
    emulator.set_faults(http_500_rate=1.0, routes=["POST /v1/messages/batches"])
    client = emulator.anthropic_client(max_retries=0)
    assert client.messages.batches.list().data == []
    assert client.messages.create(**params("hi")).type == "message"
    with pytest.raises(anthropic.InternalServerError):
        create(client, requests(1))
