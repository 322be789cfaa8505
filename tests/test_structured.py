"""Structured outputs: the strict schema OpenAI requires, made from any pydantic model; the
emulator's answer fits it; parse_result reads it back, or says why it cannot."""

from __future__ import annotations

import enum
from typing import Any, Literal

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, create_model

from emulator.answers import digest_of
from emulator.responses import chat_completion, response_object
from emulator.textgen import REFUSE
from producers import Parsed, parse_result, strict_json_schema, structured_item


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Inner(BaseModel):
    label: str
    weight: float = 1.0


LEAVES: list[Any] = [str, int, float, bool, list[str], int | None, Literal["a", "b"], Color]
NAMES = st.text("abcdefghij_", min_size=1, max_size=8).filter(lambda n: not n.startswith("_"))


@st.composite
def models(draw: st.DrawFn, depth: int = 0) -> type[BaseModel]:
    """A pydantic model of a few fields, some of them models of their own."""
    kinds = LEAVES + ([Inner] if depth else [])
    fields: dict[str, Any] = {}
    for name in draw(st.lists(NAMES, min_size=1, max_size=5, unique=True)):
        if depth < 2 and draw(st.booleans()) and draw(st.booleans()):
            fields[name] = (draw(models(depth + 1)), ...)
        else:
            fields[name] = (draw(st.sampled_from(kinds)), ...)
    return create_model(f"Model{depth}{draw(st.integers(0, 999))}", **fields)


def is_strict(node: Any) -> bool:
    if isinstance(node, list):
        return all(is_strict(n) for n in node)
    if not isinstance(node, dict):
        return True
    if "default" in node or ("$ref" in node and len(node) > 1):
        return False
    if node.get("type") == "object":
        properties = node.get("properties", {})
        if node.get("additionalProperties") is not False:
            return False
        if sorted(node.get("required", [])) != sorted(properties):
            return False
    return all(is_strict(value) for value in node.values())


def answered(item_body: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """The emulator's answer to a request, as a batchrelay result holds it."""
    answer = chat_completion if endpoint == "/v1/chat/completions" else response_object
    body = answer(item_body, digest_of(item_body))
    return {"status": "succeeded", "response": {"status_code": 200, "body": body}}


@settings(max_examples=60, deadline=None)
@given(models(), st.sampled_from(["/v1/chat/completions", "/v1/responses"]))
def test_any_model_gets_a_strict_schema_and_the_answer_fits_it(
    model: type[BaseModel], endpoint: str
) -> None:
    schema = strict_json_schema(model)
    assert is_strict(schema), orjson.dumps(schema).decode()
    item = structured_item(
        "s1", model, model="gpt-4o-mini", endpoint=endpoint,
        messages=[{"role": "user", "content": "fill it in"}],
    )  # fmt: skip
    parsed = parse_result(answered(item.body, endpoint), model)
    assert parsed.ok and isinstance(parsed.value, model), parsed
    again = parse_result(answered(item.body, endpoint), model)
    assert again.value == parsed.value  # deterministic


class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float
    reasons: list[str]


def test_the_request_is_what_openai_documents() -> None:
    chat = structured_item(
        "c", Sentiment, model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    assert chat.body["response_format"]["type"] == "json_schema"
    assert chat.body["response_format"]["json_schema"]["name"] == "Sentiment"
    assert chat.body["response_format"]["json_schema"]["strict"] is True
    responses = structured_item(
        "r", Sentiment, model="gpt-4o-mini", endpoint="/v1/responses", input="x"
    )
    text_format = responses.body["text"]["format"]
    assert (text_format["type"], text_format["name"], text_format["strict"]) == (
        "json_schema",
        "Sentiment",
        True,
    )
    assert responses.body["input"] == "x"


def test_refusals_misfits_and_failures_are_values_not_exceptions() -> None:
    refused = structured_item(
        "r", Sentiment, model="gpt-4o-mini", messages=[{"role": "user", "content": REFUSE}]
    )
    parsed = parse_result(answered(refused.body, "/v1/chat/completions"), Sentiment)
    assert parsed == Parsed(None, refusal=parsed.refusal) and parsed.refusal
    misfit = {
        "status": "succeeded",
        "response": {"body": {"choices": [{"message": {"content": '{"label": "maybe"}'}}]}},
    }
    assert (parse_result(misfit, Sentiment).error or "").startswith("the answer does not fit")
    dead = {"status": "dead", "error": {"code": "invalid_request", "message": "bad model"}}
    assert parse_result(dead, Sentiment).error == "the item failed (invalid_request: bad model)"
