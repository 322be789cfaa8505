"""`/v1/messages`: Anthropic's Messages API, its parameters checked and its answer deterministic."""

from __future__ import annotations

from typing import Any

import orjson

from emulator import textgen
from emulator.answers import LineRequestError

MESSAGES_ENDPOINT = "/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"
ROLES = ("user", "assistant")


def is_anthropic_path(path: str) -> bool:
    return path == MESSAGES_ENDPOINT or path.startswith(MESSAGES_ENDPOINT + "/")


def _invalid(param: str, problem: str) -> LineRequestError:
    """Anthropic words validation errors as `<field path>: <problem>`."""
    return LineRequestError(f"{param}: {problem}", param=param)


def _required(body: dict[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise _invalid(name, "Field required")
    return body[name]


def _check_messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _invalid("messages", "Input should be a valid list")
    if not value:
        raise _invalid("messages", "at least one message is required")
    for index, item in enumerate(value):
        where = f"messages.{index}"
        if not isinstance(item, dict):
            raise _invalid(where, "Input should be a valid dictionary")
        if item.get("role") not in ROLES:
            raise _invalid(f"{where}.role", "Input should be 'user' or 'assistant'")
        content = item.get("content")
        if content is None:
            raise _invalid(f"{where}.content", "Field required")
        if not isinstance(content, (str, list)):
            raise _invalid(f"{where}.content", "Input should be a valid list")
    return value


def _check_optional(body: dict[str, Any]) -> None:
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise _invalid("system", "Input should be a valid string")
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops)
    ):
        raise _invalid("stop_sequences", "Input should be a list of non-empty strings")


def check_params(body: dict[str, Any]) -> tuple[str, int, list[dict[str, Any]]]:
    """(model, max_tokens, messages) of a Messages create body; LineRequestError if invalid."""
    model = _required(body, "model")
    if not isinstance(model, str) or not model:
        raise _invalid("model", "Input should be a valid string")
    max_tokens = _required(body, "max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise _invalid("max_tokens", "Input should be a valid integer")
    if max_tokens < 1:
        raise _invalid("max_tokens", "Input should be greater than or equal to 1")
    messages = _check_messages(_required(body, "messages"))
    _check_optional(body)
    return model, max_tokens, messages


def _json_schema(body: dict[str, Any]) -> Any:
    """The schema of structured outputs (`output_config.format`, or the older `output_format`)."""
    config = body.get("output_config")
    output_format = config.get("format") if isinstance(config, dict) else None
    output_format = output_format or body.get("output_format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        return output_format.get("schema") or {}
    return None


def _cut_at_stop_sequence(text: str, stops: list[str] | None) -> tuple[str, str | None]:
    found = [(text.find(stop), stop) for stop in stops or () if stop in text]
    if not found:
        return text, None
    position, stop = min(found)
    return text[:position], stop


def message(body: dict[str, Any], digest: bytes) -> dict[str, Any]:
    """The Message that `body` gets; raises LineRequestError for a body Anthropic rejects."""
    model, max_tokens, messages = check_params(body)
    system = textgen.text_of(body.get("system"))
    user_texts = [textgen.text_of(m["content"]) for m in messages if m["role"] == "user"]
    prompt = user_texts[-1] if user_texts else ""
    text = textgen.answer(system, prompt, digest)
    schema = _json_schema(body)
    if schema is not None:
        text = orjson.dumps(textgen.fill_json_schema(schema, text)).decode()
    text, stop_sequence = _cut_at_stop_sequence(text, body.get("stop_sequences"))
    text, cut = textgen.truncate_to_tokens(text, max_tokens)
    stop_reason = "max_tokens" if cut else "stop_sequence" if stop_sequence else "end_turn"
    if textgen.REFUSE in prompt:
        text, stop_reason = textgen.REFUSAL, "refusal"
    if cut or stop_reason == "refusal":
        stop_sequence = None
    prompt_texts = [system, *(textgen.text_of(m["content"]) for m in messages)]
    return {
        "id": "msg_" + digest.hex()[:24],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {
            "input_tokens": sum(textgen.estimate_tokens(t) for t in prompt_texts if t) + 3,
            "output_tokens": textgen.estimate_tokens(text),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    }
