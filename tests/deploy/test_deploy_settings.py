"""The settings that the deployment files set are real settings, with values that parse.

A misspelt BATCHRELAY_* name is silently ignored by pydantic-settings (extra="ignore"), so it
would not fail at start-up: these tests catch it here, against the one Settings object.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from producers.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PREFIX = "BATCHRELAY_"


def _field(key: str) -> str:
    return key.removeprefix(PREFIX).lower()


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _compose_keys() -> set[str]:
    compose = _load(REPO / "docker-compose.yml")
    keys: set[str] = set()
    for svc in compose["services"].values():
        env = svc.get("environment") or {}
        keys |= set(env if isinstance(env, dict) else (e.split("=", 1)[0] for e in env))
    return {k for k in keys if k.startswith(PREFIX)}


def _commented_examples(path: Path) -> dict[str, str]:
    """`# BATCHRELAY_X: "value"  # note` lines: documented settings, left unset."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*#\s*((?:BATCHRELAY|OPENAI)_[A-Z_]+:.*)$", line)
        if m:
            parsed = yaml.safe_load(m.group(1))
            assert isinstance(parsed, dict), line
            out.update({k: str(v) for k, v in parsed.items()})
    return out


def _secret_keys() -> set[str]:
    keys: set[str] = set()
    for path in (DEPLOY / "base").glob("*secret*.yaml"):
        body = _load(path)
        keys |= set(body.get("stringData", {})) | set(body.get("data", {}))
    return keys


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(os.environ):
        if key.startswith(PREFIX):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # Typed as Any: without the pydantic mypy plugin, Field(default, ...) reads as required.
    settings_cls: Any = Settings
    settings: Settings = settings_cls()  # reads the environment, as the roles do
    return settings


def test_every_batchrelay_variable_is_a_setting() -> None:
    fields = set(Settings.model_fields)
    configmap = _load(DEPLOY / "base" / "configmap.yaml")["data"]
    names = (
        set(configmap)
        | set(_commented_examples(DEPLOY / "base" / "configmap.yaml"))
        | _compose_keys()
        | _secret_keys()
    )
    unknown = sorted(k for k in names if k.startswith(PREFIX) and _field(k) not in fields)
    assert not unknown, f"not fields of producers.settings.Settings: {unknown}"


def test_configmap_values_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _load(DEPLOY / "base" / "configmap.yaml")["data"]
    settings = _settings_from(data, monkeypatch)
    for key, value in data.items():
        parsed = getattr(settings, _field(key))
        assert str(parsed).lower() == value.lower() or float(parsed) == float(value), key


def test_documented_optional_values_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    examples = {
        k: v
        for k, v in _commented_examples(DEPLOY / "base" / "configmap.yaml").items()
        if k.startswith(PREFIX)
    }
    assert examples, "the ConfigMap documents the optional settings"
    _settings_from(examples, monkeypatch)


def test_dev_overrides_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    patch = _load(DEPLOY / "overlays" / "dev" / "config-patch.yaml")["data"]
    dev_env: dict[str, str] = {}
    for line in (DEPLOY / "compose" / "dev.env").read_text().splitlines():
        if line.startswith(PREFIX):
            key, _, value = line.partition("=")
            dev_env[key] = value
    for env in (patch, dev_env):
        settings = _settings_from(
            {k: v for k, v in env.items() if k.startswith(PREFIX)}, monkeypatch
        )
        assert settings.flush_after <= 10
    # The gateway's dev tenant: in dev.env and in the overlay's Secret patch, as JSON.
    secret_patch = _load(DEPLOY / "overlays" / "dev" / "gateway-secret-patch.yaml")["stringData"]
    for env in (dev_env, secret_patch):
        settings = _settings_from(
            {k: v for k, v in env.items() if k.startswith(PREFIX)}, monkeypatch
        )
        assert settings.gateway_keys is not None
        assert json.loads(settings.gateway_keys.get_secret_value()) == {"dev": "dev-key-change-me"}


def test_secret_placeholders_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    env: dict[str, str] = {}
    for path in (DEPLOY / "base").glob("*secret*.yaml"):
        env.update(_load(path).get("stringData", {}))
    settings = _settings_from({k: v for k, v in env.items() if k.startswith(PREFIX)}, monkeypatch)
    assert settings.redis_url.startswith("redis://")
    assert settings.flower_basic_auth is not None
    assert settings.gateway_keys is not None
    assert isinstance(json.loads(settings.gateway_keys.get_secret_value()), dict)
