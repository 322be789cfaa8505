"""Deterministic response bodies per endpoint: the same request body gives the same answer."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import orjson

from emulator import textgen
from emulator.answers import LineRequestError, digest_of, require, responses_usage
from emulator.embeddings import embeddings
from emulator.messages import MESSAGES_ENDPOINT, message
from emulator.moderations import moderation
from emulator.textgen import REFUSAL, REFUSE

SUPPORTED_ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/completions",
    "/v1/moderations",
)


def _max_tokens(body: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _choice_count(body: dict[str, Any]) -> int:
    n = body.get("n", 1)
    return n if isinstance(n, int) and 1 <= n <= 8 else 1


def _shaped_text(body: dict[str, Any], text: str, format_key: str) -> str:
    """Plain text, or a JSON document when the request asks for JSON output."""
    response_format = body.get(format_key)
    if format_key == "text" and isinstance(response_format, dict):
        response_format = response_format.get("format")
    if not isinstance(response_format, dict):
        return text
    if response_format.get("type") == "json_object":
        return orjson.dumps({"answer": text}).decode()
    if response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", response_format)
        filled = textgen.fill_json_schema(schema.get("schema"), text)
        return orjson.dumps(filled).decode()
    return text


def _completion_body(
    id_prefix: str,
    object_name: str,
    digest: bytes,
    model: Any,
    choices: list[dict[str, Any]],
    prompt_tokens: int,
    completion_tokens: int,
    usage_details: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The envelope shared by chat and text completions; `extra` goes before the fingerprint."""
    return {
        "id": id_prefix + digest.hex()[:29],
        "object": object_name,
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            **(usage_details or {}),
        },
        **extra,
        "system_fingerprint": "fp_emulator",
    }


def chat_completion(body: dict[str, Any], digest: bytes) -> dict[str, Any]:
    model = require(body, "model")
    messages = require(body, "messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise LineRequestError(
            "Invalid type for 'messages': expected an array of objects.",
            param="messages",
            code="invalid_type",
        )
    instructions = " ".join(
        textgen.text_of(m.get("content"))
        for m in messages
        if m.get("role") in ("system", "developer")
    )
    user_texts = [textgen.text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    prompt = user_texts[-1] if user_texts else ""
    limit = _max_tokens(body, "max_completion_tokens", "max_tokens")
    choices: list[dict[str, Any]] = []
    completion_tokens = 0
    for index in range(_choice_count(body)):
        choice_digest = digest if index == 0 else hashlib.sha256(digest + bytes([index])).digest()
        text = _shaped_text(
            body, textgen.answer(instructions, prompt, choice_digest), "response_format"
        )
        text, cut = textgen.truncate_to_tokens(text, limit)
        completion_tokens += textgen.estimate_tokens(text)
        refused = REFUSE in prompt
        choices.append(
            {
                "index": index,
                "message": {
                    "role": "assistant",
                    "content": None if refused else text,
                    "refusal": REFUSAL if refused else None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "length" if cut else "stop",
            }
        )
    prompt_tokens = sum(
        textgen.estimate_tokens(textgen.text_of(m.get("content"))) + 4 for m in messages
    )
    return _completion_body(
        "chatcmpl-",
        "chat.completion",
        digest,
        model,
        choices,
        prompt_tokens,
        completion_tokens,
        usage_details={
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        service_tier="default",
    )


def _response_input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = [
            textgen.text_of(item.get("content"))
            for item in value
            if isinstance(item, dict) and item.get("role", "user") == "user"
        ]
        return texts[-1] if texts else ""
    return ""


def _response_instructions(body: dict[str, Any]) -> str:
    parts = [body.get("instructions") or ""]
    if isinstance(body.get("input"), list):
        parts += [
            textgen.text_of(item.get("content"))
            for item in body["input"]
            if isinstance(item, dict) and item.get("role") in ("system", "developer")
        ]
    return " ".join(p for p in parts if isinstance(p, str))


def response_object(body: dict[str, Any], digest: bytes) -> dict[str, Any]:
    model = require(body, "model")
    require(body, "input")
    prompt = _response_input_text(body["input"])
    instructions = _response_instructions(body)
    text = _shaped_text(body, textgen.answer(instructions, prompt, digest), "text")
    text, cut = textgen.truncate_to_tokens(text, _max_tokens(body, "max_output_tokens"))
    input_tokens = textgen.estimate_tokens(instructions + prompt)
    output_tokens = textgen.estimate_tokens(text)
    now = int(time.time())
    return {
        "id": "resp_" + digest.hex()[:48],
        "object": "response",
        "created_at": now,
        "completed_at": now,
        "status": "incomplete" if cut else "completed",
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [
            {
                "id": "msg_" + digest.hex()[16:64],
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "refusal", "refusal": REFUSAL}
                    if REFUSE in prompt
                    else {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                ],
            }
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": responses_usage(input_tokens, output_tokens),
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def text_completion(body: dict[str, Any], digest: bytes) -> dict[str, Any]:
    model = require(body, "model")
    prompt = require(body, "prompt")
    prompts = (
        prompt
        if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt)
        else [prompt if isinstance(prompt, str) else ""]
    )
    limit = _max_tokens(body, "max_tokens") or 16
    choices: list[dict[str, Any]] = []
    prompt_tokens = completion_tokens = 0
    for prompt_index, text_prompt in enumerate(prompts):
        prompt_tokens += textgen.estimate_tokens(text_prompt)
        for n in range(_choice_count(body)):
            choice_digest = hashlib.sha256(digest + bytes([prompt_index % 256, n])).digest()
            text, cut = textgen.truncate_to_tokens(
                " " + textgen.answer("", text_prompt, choice_digest), limit
            )
            completion_tokens += textgen.estimate_tokens(text)
            choices.append(
                {
                    "text": text,
                    "index": len(choices),
                    "logprobs": None,
                    "finish_reason": "length" if cut else "stop",
                }
            )
    return _completion_body(
        "cmpl-", "text_completion", digest, model, choices, prompt_tokens, completion_tokens
    )


def generate(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """The answer of `endpoint` to `body`; raises LineRequestError for a body it rejects."""
    handlers: dict[str, Callable[[dict[str, Any], bytes], dict[str, Any]]] = {
        "/v1/chat/completions": chat_completion,
        "/v1/embeddings": embeddings,
        "/v1/responses": response_object,
        "/v1/completions": text_completion,
        "/v1/moderations": moderation,
        MESSAGES_ENDPOINT: message,
    }
    handler = handlers.get(endpoint)
    if handler is None:
        raise LineRequestError(f"Invalid URL (POST {endpoint})", status=404)
    if body.get("stream") is True:
        raise LineRequestError(
            "Streaming is not supported in batches.", param="stream", code="unsupported_value"
        )
    return handler(body, digest_of(body))
