"""`/v1/moderations`: keyword-flagged results, one per input, with every category."""

from __future__ import annotations

from typing import Any

from emulator import textgen
from emulator.answers import require

DEFAULT_MODEL = "omni-moderation-latest"
KEYWORDS_OF_CATEGORY: dict[str, tuple[str, ...]] = {
    "harassment": ("idiot", "stupid", "loser"),
    "harassment/threatening": ("i will hurt you", "i will find you"),
    "hate": ("hate",),
    "hate/threatening": ("exterminate",),
    "illicit": ("steal", "counterfeit"),
    "illicit/violent": ("build a bomb",),
    "self-harm": ("hurt myself", "self-harm"),
    "self-harm/intent": ("want to die",),
    "self-harm/instructions": ("how to hurt myself",),
    "sexual": ("explicit",),
    "sexual/minors": ("underage",),
    "violence": ("kill", "murder", "attack"),
    "violence/graphic": ("gore", "blood everywhere"),
}


def _inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return [" ".join(textgen.text_of([part]) for part in value)]
    if isinstance(value, list):
        return [v if isinstance(v, str) else "" for v in value]
    return [""]


def _result(text: str) -> dict[str, Any]:
    lowered = text.lower()
    categories = {
        name: any(word in lowered for word in words) for name, words in KEYWORDS_OF_CATEGORY.items()
    }
    scores = {name: 0.91 if hit else 0.0001 for name, hit in categories.items()}
    return {
        "flagged": any(categories.values()),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": {name: ["text"] for name in categories},
    }


def moderation(body: dict[str, Any], digest: bytes) -> dict[str, Any]:
    texts = _inputs(require(body, "input"))
    return {
        "id": "modr-" + digest.hex()[:32],
        "model": body.get("model") or DEFAULT_MODEL,
        "results": [_result(text) for text in texts],
    }
