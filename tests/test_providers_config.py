"""Providers and routes: which item goes where, and configurations that are wrong said so by
name, before anything is stored."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from redis import Redis

from producers import Producer
from producers.errors import ConfigurationError, InvalidItem
from producers.keys import partition_tag
from producers.providers import load_providers
from producers.replies import text
from producers.settings import Settings
from tests.support.cli import cli
from tests.support.items import chat, message
from worker.testing import clean_env

TWO_ACCOUNTS = """
[providers.east]
kind = "openai"
base_url = "http://east.invalid/v1"
api_key_env = "EAST_KEY"
token_budgets = {"gpt-4o-mini" = 1000}

[providers.west]
kind = "openai"
limits = {max_requests = 5}

[providers.claude]
kind = "anthropic"

[[routes]]
endpoints = ["/v1/messages"]
models = ["claude-*"]
providers = ["claude"]

[[routes]]
models = ["gpt-4o*"]
providers = ["east", "west"]

[[routes]]
models = ["*"]
providers = ["west"]
"""


def test_the_default_sends_claude_messages_to_anthropic_and_the_rest_to_openai() -> None:
    providers = load_providers(None, None)
    assert providers.route("/v1/messages", "claude-haiku-4-5", "a") == "anthropic"
    assert providers.route("/v1/chat/completions", "claude-haiku-4-5", "a") == "openai"
    assert providers.route("/v1/embeddings", "text-embedding-3-small", "a") == "openai"
    with pytest.raises(LookupError, match="no provider takes /v1/messages"):
        providers.route("/v1/messages", "gpt-4o-mini", "a")


def test_a_route_spreads_its_models_over_its_providers_by_item_id(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_text(TWO_ACCOUNTS)
    providers = load_providers(str(path), None)
    chosen = [providers.route("/v1/chat/completions", "gpt-4o-mini", f"i{n}") for n in range(400)]
    assert 150 < chosen.count("east") < 250 and chosen.count("east") + chosen.count("west") == 400
    again = [providers.route("/v1/chat/completions", "gpt-4o-mini", f"i{n}") for n in range(400)]
    assert again == chosen  # a resubmitted id lands where it did
    assert providers.route("/v1/chat/completions", "o3", "x") == "west"
    assert providers.route("/v1/chat/completions", "gpt-4o", "x", named="west") == "west"
    assert providers.provider("west").batch_limits.max_requests == 5
    assert providers.provider("claude").batch_limits.max_requests == 100_000
    assert providers.provider("east").key_env == "EAST_KEY"


@pytest.mark.parametrize(
    ("config", "names"),
    [
        (
            '{"providers": {"a": {"kind": "gemini"}}, "routes": [{"models": ["*"], '
            '"providers": ["a"]}]}',
            "providers.a.kind",
        ),
        (
            '{"providers": {"a": {"kind": "openai"}}, "routes": [{"models": ["*"], '
            '"providers": ["b"]}]}',
            "routes[0] names provider 'b'",
        ),
        (
            '{"providers": {"a": {"kind": "openai", "limits": {"max_requests": 0}}}, '
            '"routes": [{"models": ["*"], "providers": ["a"]}]}',
            "providers.a.limits.max_requests",
        ),
        (
            '{"providers": {"A B": {"kind": "openai"}}, "routes": [{"models": ["*"], '
            '"providers": ["A B"]}]}',
            "providers.A B.name",
        ),
        ('{"providers": {}, "routes": []}', "routes"),
        ("{not json", "BATCHRELAY_PROVIDERS"),
    ],
)
def test_a_wrong_configuration_is_named_by_its_field(config: str, names: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_providers(None, config)
    assert names in str(raised.value)


def test_a_providers_file_that_does_not_parse_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_text("[providers.a\nkind = 1")
    with pytest.raises(ConfigurationError, match=r"providers\.toml"):
        load_providers(str(path), None)


@pytest.mark.parametrize("role", ["worker", "beat", "submit"])
def test_a_role_with_a_wrong_providers_file_stops_at_start_naming_the_field(
    role: str, tmp_path: Path
) -> None:
    path = tmp_path / "providers.toml"
    path.write_text(
        '[providers.a]\nkind = "gemini"\n[[routes]]\nmodels = ["*"]\nproviders = ["a"]\n'
    )
    (tmp_path / "in.jsonl").write_text("")
    args = [role, str(tmp_path / "in.jsonl")] if role == "submit" else [role]
    result = cli({**clean_env(), "BATCHRELAY_PROVIDERS_FILE": str(path)}, *args)
    assert result.returncode == 2, result
    assert "providers.a.kind: Input should be 'openai' or 'anthropic'" in result.stderr
    assert "Traceback" not in result.stderr


def test_items_no_provider_takes_are_refused_by_field_and_nothing_is_stored(
    redis: Redis, settings: Settings
) -> None:
    producer = Producer(redis, settings)
    cases = [
        (message("m1", model="gpt-4o-mini"), "body.model"),
        (chat("c1", provider="nowhere"), "provider"),
        (chat("c2", provider="anthropic"), "provider"),
        (
            {**message("m2"), "body": {"model": "claude-haiku-4-5", "messages": []}},
            "body.max_tokens",
        ),
    ]
    for item, field in cases:
        with pytest.raises(InvalidItem) as raised:
            producer.submit(item)
        [rejection] = raised.value.rejections
        assert rejection.field == field, rejection
        assert rejection.item_id == item["id"]
    assert not redis.keys("br:{*")


def test_items_of_each_provider_get_a_partition_of_their_own(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "providers.toml"
    path.write_text(TWO_ACCOUNTS)
    settings = Settings(redis_url=redis_url, providers_file=str(path))
    producer = Producer(redis, settings)
    producer.submit_many([chat(f"i{n}") for n in range(20)] + [message("m")])
    registry = {text(k): orjson.loads(v) for k, v in redis.hgetall("br:partitions").items()}
    providers = sorted(p["provider"] for p in registry.values())
    assert providers == ["claude", "east", "west"]
    chat_tags = {tag for tag, p in registry.items() if p["endpoint"] == "/v1/chat/completions"}
    assert chat_tags == {
        partition_tag("/v1/chat/completions", "gpt-4o-mini", "east"),
        partition_tag("/v1/chat/completions", "gpt-4o-mini", "west"),
    }
    # The default provider's partitions keep the tags they had before providers existed.
    assert partition_tag("/v1/chat/completions", "gpt-4o-mini", "openai") == partition_tag(
        "/v1/chat/completions", "gpt-4o-mini"
    )
