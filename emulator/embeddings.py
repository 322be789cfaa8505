"""`/v1/embeddings`: one deterministic unit vector per input."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from emulator import textgen
from emulator.answers import LineRequestError, require

DEFAULT_DIMENSIONS = {
    "text-embedding-3-large": 3072,
    "text-embedding-3-small": 1536,
    "text-embedding-ada-002": 1536,
}
FALLBACK_DIMENSIONS = 1536
MAX_DIMENSIONS = 16_384


def embedding_inputs(value: Any) -> list[Any]:
    """The inputs of an `input` field: a string, a token list, or a list of either."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value]
    if isinstance(value, list):
        return value
    return [value]


def unit_vector(model: str, item: Any, dimensions: int) -> list[float]:
    seed = f"{model}\x00{item!r}".encode()
    raw = struct.unpack(f"<{dimensions}h", hashlib.shake_256(seed).digest(2 * dimensions))
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _dimensions(body: dict[str, Any], model: str) -> int:
    requested = body.get("dimensions")
    if requested is None:
        return DEFAULT_DIMENSIONS.get(model, FALLBACK_DIMENSIONS)
    if model == "text-embedding-ada-002":
        raise LineRequestError(
            "This model does not support specifying dimensions.", param="dimensions"
        )
    if not isinstance(requested, int) or not 1 <= requested <= MAX_DIMENSIONS:
        raise LineRequestError(
            f"Invalid value for 'dimensions': expected an integer from 1 to {MAX_DIMENSIONS}.",
            param="dimensions",
            code="invalid_value",
        )
    return requested


def _tokens(item: Any) -> int:
    if isinstance(item, str):
        return textgen.estimate_tokens(item)
    if isinstance(item, list):
        return max(1, len(item))
    return 1


def embeddings(body: dict[str, Any], _digest: bytes) -> dict[str, Any]:
    model = require(body, "model")
    inputs = embedding_inputs(require(body, "input"))
    if any(not isinstance(item, (str, list)) or item in ("", []) for item in inputs):
        raise LineRequestError(
            "Invalid 'input': each input must be a non-empty string or array of tokens.",
            param="input",
            code="invalid_value",
        )
    dimensions = _dimensions(body, model)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = unit_vector(model, item, dimensions)
        encoded: Any = (
            base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            if as_base64
            else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    prompt_tokens = sum(_tokens(item) for item in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
