"""Short, plausible, deterministic answer texts, chosen from a digest of the request."""

from __future__ import annotations

import itertools
import re
from typing import Any

NEGATIVE_WORDS = (
    "terrible",
    "awful",
    "bad",
    "worst",
    "horrible",
    "poor",
    "not recommend",
    "don't recommend",
    "do not recommend",
    "disappoint",
    "hate",
    "broke",
    "broken",
    "waste",
    "useless",
    "refund",
    "never again",
    "not good",
    "not worth",
    "boring",
)

OPENINGS = (
    "In short, {topic} comes down to a few clear points.",
    "Good question about {topic}.",
    "Here is a brief take on {topic}.",
    "Thinking about {topic}, the answer is fairly simple.",
    "On {topic}: the essentials fit in a couple of sentences.",
    "Regarding {topic}, here is what matters most.",
)
BODIES = (
    "Start with the simplest approach, check the result, and refine only where it helps.",
    "The main idea is to keep things small and clear, then build up step by step.",
    "Most of the value comes from getting the basics right and staying consistent.",
    "It depends on the details, but the usual answer is to favour clarity over cleverness.",
    "A practical rule of thumb is to measure first and change one thing at a time.",
    "The key trade-off is between speed and care; a balanced middle path usually works best.",
    "Focus on what the reader needs to know first, and leave the rest for later.",
)

REFUSE = "[emulator: refuse]"
"""A request whose last user message holds this gets a refusal, as a model may give one."""
REFUSAL = "I'm sorry, I can't help with that."

_WORD = re.compile(r"[\w'-]+")
_NEGATIVE_PATTERNS = {word: re.compile(rf"\b{re.escape(word)}") for word in NEGATIVE_WORDS}


def estimate_tokens(text: str) -> int:
    """About four characters per token, as OpenAI's rule of thumb for English."""
    return max(1, (len(text) + 3) // 4)


def text_of(content: Any) -> str:
    """The text of a message `content`: a string or a list of parts with text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [text_of(part.get("text")) for part in content if isinstance(part, dict)]
        return " ".join(p for p in parts if p)
    return ""


def is_sentiment_task(instructions: str) -> bool:
    return "sentiment" in instructions.lower()


def classify_sentiment(text: str) -> str:
    lowered = text.lower()
    # A plain substring test first: the word-boundary regex is slow on long texts.
    for word, pattern in _NEGATIVE_PATTERNS.items():
        if word in lowered and pattern.search(lowered):
            return "negative"
    return "positive"


def topic_of(prompt: str) -> str:
    words = [match.group() for match in itertools.islice(_WORD.finditer(prompt), 6)]
    return f'"{" ".join(words)}"' if words else "this"


def answer(instructions: str, prompt: str, digest: bytes) -> str:
    """The answer to `prompt`: a sentiment label for sentiment tasks, else two sentences."""
    if is_sentiment_task(instructions):
        return classify_sentiment(prompt)
    opening = OPENINGS[digest[0] % len(OPENINGS)].format(topic=topic_of(prompt))
    return f"{opening} {BODIES[digest[1] % len(BODIES)]}"


def truncate_to_tokens(text: str, max_tokens: int | None) -> tuple[str, bool]:
    """The text cut to `max_tokens`, and whether it was cut."""
    if max_tokens is None or estimate_tokens(text) <= max_tokens:
        return text, False
    return text[: max(1, max_tokens * 4)].rstrip(), True


STRING_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00",
    "email": "someone@example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.com/",
}


def fill_json_schema(schema: Any, text: str, depth: int = 0, root: Any = None) -> Any:
    """A value that fits a JSON schema (the subset OpenAI's structured outputs take: objects,
    arrays, strings, numbers, booleans, enums, const, anyOf, $ref into $defs), the same every
    time for the same schema and text: the answer of a `json_schema` response format."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 12:
        return text
    if "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return fill_json_schema(target, text, depth + 1, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combined in ("anyOf", "oneOf"):
        options = [o for o in schema.get(combined) or [] if o.get("type") != "null"]
        if options:
            return fill_json_schema(options[0], text, depth + 1, root)
    if schema.get("allOf"):
        return fill_json_schema(schema["allOf"][0], text, depth + 1, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {
            name: fill_json_schema(sub, text, depth + 1, root) for name, sub in properties.items()
        }
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        item = fill_json_schema(schema.get("items"), text, depth + 1, root)
        return [item] * min(count, int(schema.get("maxItems", count)))
    if kind in ("integer", "number"):
        number: float = 1 if kind == "integer" else 0.5
        number = max(number, schema.get("minimum", number))
        return min(number, schema.get("maximum", number))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    value = STRING_FORMATS.get(str(schema.get("format")), text)
    return value[: int(schema["maxLength"])] if "maxLength" in schema else value
