"""The Anthropic adapter's conversions, and what every adapter shares: results as OpenAI's
output lines (each result type, and lines that are not results), lines split as JSON allows,
listings that page wrongly, keys that are missing."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest

from producers.errors import ConfigurationError
from producers.providers import Provider
from producers.settings import Settings
from worker.outcomes import classify, parse_line
from worker.providers.anthropic import AnthropicBatches, result_line
from worker.providers.anthropic_ids import CustomIds, to_custom_id
from worker.providers.base import split_lines
from worker.providers.openai import OpenAIBatches, once_each

IDS = CustomIds(["plain", "order/7"])
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "fine"}],
    "usage": {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 5},
}


def converted(result: object, custom_id: str = "plain") -> dict[str, object]:
    raw = orjson.dumps({"custom_id": custom_id, "result": result})
    return dict(orjson.loads(result_line(raw, IDS)))


def test_a_succeeded_result_is_a_200_response_with_its_message_and_tokens() -> None:
    line = converted({"type": "succeeded", "message": MESSAGE})
    parsed = classify(line)
    assert parsed.outcome.kind == "ok" and parsed.outcome.item_id == "plain"
    assert line["response"] == {"status_code": 200, "body": MESSAGE}
    assert parsed.tokens == (15, 3)  # cache reads count as input


@pytest.mark.parametrize(
    ("error_type", "kind", "status"),
    [
        ("invalid_request_error", "dead", 400),
        ("not_found_error", "dead", 404),
        ("billing_error", "retry", 402),
        ("rate_limit_error", "retry", 429),
        ("api_error", "retry", 500),
        ("overloaded_error", "retry", 529),
        ("timeout_error", "retry", 500),
    ],
)
def test_an_errored_result_is_dead_or_retried_by_its_type(
    error_type: str, kind: str, status: int
) -> None:
    error = {"type": "error", "error": {"type": error_type, "message": "why"}}
    line = converted({"type": "errored", "error": error})
    parsed = classify(line)
    assert (parsed.outcome.kind, parsed.outcome.code) == (kind, error_type)
    assert line["response"]["status_code"] == status  # type: ignore[index]


@pytest.mark.parametrize(
    ("result", "code"),
    [
        ({"type": "canceled"}, "batch_cancelled"),
        ({"type": "expired"}, "batch_expired"),
        ({"type": "something_new"}, "server_error"),
        ({}, "server_error"),
        ({"type": "errored", "error": "not an object"}, "api_error"),
    ],
)
def test_unfinished_and_unknown_results_are_retried(result: object, code: str) -> None:
    parsed = classify(converted(result))
    assert (parsed.outcome.kind, parsed.outcome.code) == ("retry", code)


def test_a_hashed_custom_id_comes_back_as_the_item_id() -> None:
    line = converted({"type": "succeeded", "message": MESSAGE}, to_custom_id("order/7"))
    assert line["custom_id"] == "order/7"
    assert IDS.owns(to_custom_id("order/7")) and not IDS.owns("someone-else")


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'{"result": {"type": "succeeded"}}', b'{"custom_id": 7}'],
)
def test_a_line_that_is_not_a_result_passes_as_it_came_and_counts_as_bad(raw: bytes) -> None:
    assert result_line(raw, IDS) == raw
    with pytest.raises(ValueError):
        classify(parse_line(raw))


def test_lines_split_at_newlines_only_whatever_the_chunks() -> None:
    # U+2028 and U+2029 are legal inside JSON strings; a text line splitter breaks at them.
    text = '{"custom_id": "a", "text": "one\u2028two\u2029three\u0085"}\n\n{"custom_id": "b"}'
    data = text.encode()
    for size in (1, 3, 7, len(data)):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        lines = list(split_lines(chunks, "test"))
        assert [orjson.loads(line)["custom_id"] for line in lines] == ["a", "b"]


@dataclass
class Listed:
    id: str


def test_a_listing_that_hands_its_first_page_again_ends() -> None:
    page = [Listed("b3"), Listed("b2"), Listed("b1")]
    forever = (item for _ in range(1_000) for item in page)
    assert [i.id for i in once_each(forever)] == ["b3", "b2", "b1"]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_provider_without_its_key_says_so_and_never_borrows_another(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default-account")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-default-account")
    monkeypatch.delenv("GROQ_KEY", raising=False)
    provider = Provider(name="groq", kind=kind, api_key_env="GROQ_KEY")
    adapter = (AnthropicBatches if kind == "anthropic" else OpenAIBatches)(Settings(), provider)
    with pytest.raises(ConfigurationError, match="provider groq: GROQ_KEY is not set"):
        adapter.client  # noqa: B018
