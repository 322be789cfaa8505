"""docker-compose.yml: valid Compose Specification, and the operational points it must keep.

The schema is the official one (tests/deploy/schemas/compose-spec.json, vendored: see the
README there), so this runs offline. When a Docker Compose v2 binary is on PATH, the last
tests also ask it (`config` needs no Docker engine); otherwise they are skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DEV_ENV = REPO / "deploy" / "compose" / "dev.env"
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"

BATCHRELAY_SERVICES = {"worker", "beat", "flower", "exporter", "gateway", "emulator"}
ALL_SERVICES = BATCHRELAY_SERVICES | {"redis"}
# Enough to interpolate every required variable of the file.
SAMPLE_ENV = {
    "FLOWER_BASIC_AUTH": "admin:secret",
    "BATCHRELAY_GATEWAY_KEYS": '{"acme": "sha256:' + "ab" * 32 + '"}',
}


# --- helpers -------------------------------------------------------------------------------


def _load_compose() -> dict[str, Any]:
    # PyYAML's SafeLoader resolves anchors, aliases and `<<` merge keys as Compose does.
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


_VAR = re.compile(
    r"\$\$"  # escaped dollar
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


class MissingVariable(KeyError):
    pass


def _interpolate_str(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation (the subset without nesting): $$, $V, ${V}, ${V:-d},
    ${V-d}, ${V:?e}, ${V?e}, ${V:+a}, ${V+a}."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in ("-", ":-"):
            return arg if empty else str(value)
        if op in ("?", ":?"):
            if empty:
                raise MissingVariable(f"{name}: {arg}")
            return str(value)
        if op in ("+", ":+"):
            return "" if empty else arg
        return "" if value is None else value

    return _VAR.sub(repl, text)


def _interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return _interpolate_str(node, env)
    if isinstance(node, list):
        return [_interpolate(v, env) for v in node]
    if isinstance(node, dict):
        return {k: _interpolate(v, env) for k, v in node.items()}
    return node


def _read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {raw!r}"
        env[key.strip()] = value.strip()
    return env


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command")
    if isinstance(cmd, str):
        return cmd.split()
    assert isinstance(cmd, list), f"no command: {service}"
    return [str(c) for c in cmd]


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment", {})
    if isinstance(env, list):
        out: dict[str, Any] = {}
        for item in env:
            key, sep, value = str(item).partition("=")
            out[key] = value if sep else None
        return out
    assert isinstance(env, dict)
    return env


def _replicas(service: dict[str, Any]) -> int:
    deploy = service.get("deploy") or {}
    return int(deploy.get("replicas", 1))


def _healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(t) for t in test)


def _seconds(duration: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    for number, unit in parts:
        total += float(number) * units[unit]
    return total


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svcs = compose["services"]
    assert isinstance(svcs, dict)
    return svcs


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    # The file says "$schema": "https://json-schema.org/draft-07/schema" (no trailing #),
    # which jsonschema does not map to a draft by itself.
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


# --- schema --------------------------------------------------------------------------------


def test_vendored_schema_is_the_compose_specification() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$id"] == "compose_spec.json"
    assert schema["title"] == "Compose Specification"
    assert "services" in schema["properties"]
    assert (SCHEMA_FILE.parent / "LICENSE-compose-spec.Apache-2.0.txt").is_file()


def test_schema_rejects_what_compose_rejects(validator: jsonschema.protocols.Validator) -> None:
    # Proves the validator is strict, so a pass below means something.
    bad = {"services": {"worker": {"image": "x", "restart_policy": "always"}}}
    assert list(validator.iter_errors(bad))
    bad_dep = {"services": {"w": {"image": "x", "depends_on": {"redis": {"condition": "up"}}}}}
    assert list(validator.iter_errors(bad_dep))


def test_compose_file_matches_the_schema(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    "env_source",
    [lambda: SAMPLE_ENV, lambda: _read_env_file(DEV_ENV)],
    ids=["sample-env", "dev.env"],
)
def test_interpolated_compose_file_matches_the_schema(
    compose: dict[str, Any],
    validator: jsonschema.protocols.Validator,
    env_source: Callable[[], dict[str, str]],
) -> None:
    resolved = _interpolate(compose, env_source())
    errors = list(validator.iter_errors(resolved))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_no_version_key_and_a_project_name(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "the Compose Specification has no `version:`"
    assert compose.get("name") == "batchrelay"


def test_services_are_the_expected_ones(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == ALL_SERVICES


# --- one image, shared parts -----------------------------------------------------------------


def test_common_parts_come_from_an_extension_anchor(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    extensions = [k for k in compose if k.startswith("x-")]
    assert extensions, "common parts belong in an x- extension"
    anchors = set(re.findall(r"^x-[\w-]+:\s*&([\w-]+)", text, re.MULTILINE))
    assert anchors
    merged = re.findall(r"<<:\s*\*([\w-]+)", text)
    assert len([m for m in merged if m in anchors]) >= len(BATCHRELAY_SERVICES)


def test_every_batchrelay_service_runs_the_one_image(
    services: dict[str, dict[str, Any]],
) -> None:
    images = {services[name].get("image") for name in BATCHRELAY_SERVICES}
    builds = {
        json.dumps(services[name].get("build"), sort_keys=True) for name in BATCHRELAY_SERVICES
    }
    assert len(images) == 1 and None not in images, images
    assert len(builds) == 1, builds
    build = services["worker"]["build"]
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (REPO / context).resolve() == REPO
    assert (REPO / context / dockerfile).is_file()


def test_redis_is_the_only_service_from_a_registry(services: dict[str, dict[str, Any]]) -> None:
    assert "build" not in services["redis"]
    assert str(services["redis"]["image"]).startswith("redis:7")


# --- redis -----------------------------------------------------------------------------------


def test_redis_persists_with_aof_and_never_evicts(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    cmd = _command(redis)
    assert cmd[0] == "redis-server"
    args = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert args.get("--appendonly") == "yes"
    assert args.get("--appendfsync") == "everysec"
    assert args.get("--maxmemory-policy") == "noeviction"


def test_redis_data_lives_in_a_named_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    mounts = [str(v) for v in redis["volumes"]]
    data = [m for m in mounts if m.split(":")[1:2] == ["/data"]]
    assert data, mounts
    assert data[0].split(":")[0] in (compose.get("volumes") or {})


def test_redis_port_only_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    for port in services["redis"].get("ports", []):
        published = _interpolate_str(str(port), {})
        assert published.startswith("127.0.0.1:"), port


# --- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("worker", ["batchrelay", "worker"]),
        ("beat", ["batchrelay", "beat"]),
        # Flower binds 127.0.0.1 unless given --address.
        ("flower", ["batchrelay", "flower", "--address", "0.0.0.0", "--port", "5555"]),
        ("exporter", ["batchrelay", "exporter", "--host", "0.0.0.0", "--port", "9808"]),
        ("gateway", ["batchrelay", "gateway", "--host", "0.0.0.0", "--port", "8090"]),
        ("emulator", ["batchrelay", "emulator", "--host", "0.0.0.0", "--port", "8089"]),
    ],
)
def test_role_commands(services: dict[str, dict[str, Any]], name: str, expected: list[str]) -> None:
    assert _command(services[name]) == expected


def test_worker_is_scalable(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert not worker.get("ports"), "a fixed host port breaks --scale worker=N"
    assert "hostname" not in worker


def test_no_service_pins_a_container_name(services: dict[str, dict[str, Any]]) -> None:
    assert [n for n, s in services.items() if "container_name" in s] == []


def test_worker_gets_time_for_a_warm_shutdown(services: dict[str, dict[str, Any]]) -> None:
    assert _seconds(str(services["worker"]["stop_grace_period"])) >= 60


def test_beat_runs_twice_with_redbeat(services: dict[str, dict[str, Any]]) -> None:
    beats = {n: s for n, s in services.items() if _command(s)[:2] == ["batchrelay", "beat"]}
    assert sum(_replicas(s) for s in beats.values()) == 2
    for beat in beats.values():
        assert "container_name" not in beat and not beat.get("ports")


def test_flower_requires_basic_auth(services: dict[str, dict[str, Any]]) -> None:
    flower = services["flower"]
    auth = _environment(flower).get("BATCHRELAY_FLOWER_BASIC_AUTH")
    assert isinstance(auth, str)
    assert re.fullmatch(r"\$\{FLOWER_BASIC_AUTH:\?[^}]+\}", auth), auth
    with pytest.raises(MissingVariable, match="FLOWER_BASIC_AUTH"):
        _interpolate(flower, {})
    resolved = _environment(_interpolate(flower, SAMPLE_ENV))
    assert resolved["BATCHRELAY_FLOWER_BASIC_AUTH"] == SAMPLE_ENV["FLOWER_BASIC_AUTH"]


def test_flower_and_exporter_publish_their_ports(services: dict[str, dict[str, Any]]) -> None:
    for name, port in (("flower", "5555"), ("exporter", "9808")):
        targets = [_interpolate_str(str(p), {}).rsplit(":", 1)[-1] for p in services[name]["ports"]]
        assert port in targets, (name, services[name]["ports"])


def test_emulator_only_in_dev_profile(services: dict[str, dict[str, Any]]) -> None:
    assert services["emulator"].get("profiles") == ["dev"]
    others = {n: s.get("profiles") for n, s in services.items() if n != "emulator"}
    assert all(p is None for p in others.values()), others
    # A service outside the profile may wait for the emulator only as an optional dependency.
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, dict) and "emulator" in deps:
            assert deps["emulator"].get("required") is False, name
        else:
            assert "emulator" not in deps, name


def test_batchrelay_services_wait_for_a_healthy_redis(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in BATCHRELAY_SERVICES - {"emulator"}:
        deps = services[name].get("depends_on")
        assert isinstance(deps, dict), name
        assert deps["redis"]["condition"] == "service_healthy", name


def test_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    # beat has nothing to probe (a standby beat is idle by design); every other one has.
    for name in ALL_SERVICES - {"beat"}:
        assert services[name].get("healthcheck", {}).get("test"), name
    assert "redis-cli ping" in _healthcheck_text(services["redis"]).replace("CMD ", "")
    worker = _healthcheck_text(services["worker"])
    assert "inspect ping" in worker and "celery@$$HOSTNAME" in worker
    assert "127.0.0.1:5555/healthcheck" in _healthcheck_text(services["flower"])
    assert "127.0.0.1:9808/metrics" in _healthcheck_text(services["exporter"])
    assert "127.0.0.1:8090/healthz" in _healthcheck_text(services["gateway"])
    assert "8089" in _healthcheck_text(services["emulator"])


def test_settings_and_openai_variables_reach_every_batchrelay_service(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in BATCHRELAY_SERVICES:
        env = _environment(services[name])
        assert env["BATCHRELAY_REDIS_URL"] == "redis://redis:6379/0", name
        # Bare keys: passed through when set, absent when not (never an empty base URL).
        assert "OPENAI_API_KEY" in env and env["OPENAI_API_KEY"] is None, name
        assert "OPENAI_BASE_URL" in env and env["OPENAI_BASE_URL"] is None, name
        for key in (
            "BATCHRELAY_FLUSH_AFTER",
            "BATCHRELAY_POLL_INTERVAL",
            "BATCHRELAY_MAX_ATTEMPTS",
        ):
            assert key in env, (name, key)


GATEWAY_PORT = 8090
GATEWAY_ONLY = {
    "BATCHRELAY_GATEWAY_KEYS",
    "BATCHRELAY_GATEWAY_MAX_FILE_BYTES",
    "BATCHRELAY_GATEWAY_TENANT_MAX_QUEUED",
    "OPENAI_WEBHOOK_SECRET",
}


def _published_ports(service: dict[str, Any], env: Mapping[str, str]) -> list[dict[str, Any]]:
    """Short-syntax ports ([IP:][HOST:]CONTAINER[/proto]) as {host_ip, published, target}."""
    out = []
    for raw in service.get("ports", []):
        assert isinstance(raw, str), f"short syntax expected: {raw!r}"
        spec = _interpolate_str(raw, env).split("/")[0]
        parts = spec.rsplit(":", 2)
        target = parts[-1]
        published = parts[-2] if len(parts) >= 2 else ""
        host_ip = parts[-3] if len(parts) == 3 else ""
        out.append({"host_ip": host_ip, "published": published, "target": int(target)})
    return out


def _host_ports(published: str) -> int | None:
    """How many host ports a published spec offers: None for an ephemeral one (any)."""
    if not published:
        return None
    first, _, last = published.partition("-")
    return int(last or first) - int(first) + 1


def test_gateway_publishes_its_port_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    ports = _published_ports(services["gateway"], {})
    assert [p["target"] for p in ports] == [GATEWAY_PORT]
    for port in ports:
        assert port["host_ip"] == "127.0.0.1", port
    # By default the first host port offered is 8090, the gateway's own.
    assert ports[0]["published"].split("-")[0] in ("", str(GATEWAY_PORT))


@pytest.mark.parametrize("replicas", [2, 4])
def test_gateway_scales_with_compose(services: dict[str, dict[str, Any]], replicas: int) -> None:
    """`docker compose up -d --scale gateway=N`: every replica needs a host port of its own,
    so each published port is ephemeral or a range with room for N; no fixed name."""
    gateway = services["gateway"]
    assert "container_name" not in gateway and "hostname" not in gateway
    assert _replicas(gateway) == 1, "the replica count is --scale's, not the file's"
    for port in _published_ports(gateway, {}):
        room = _host_ports(port["published"])
        assert room is None or room >= replicas, (port, "a fixed host port breaks --scale")


def test_gateway_host_port_can_be_pinned(services: dict[str, dict[str, Any]]) -> None:
    (port,) = _published_ports(services["gateway"], {"GATEWAY_HOST_PORTS": "18090"})
    assert port == {"host_ip": "127.0.0.1", "published": "18090", "target": GATEWAY_PORT}


def test_gateway_gets_its_settings_and_secrets_alone(
    services: dict[str, dict[str, Any]],
) -> None:
    env = _environment(services["gateway"])
    for key in GATEWAY_ONLY - {"BATCHRELAY_GATEWAY_KEYS"}:
        # Bare keys: passed through when set, absent when not. Never a default in the file
        # (the webhook secret is a secret).
        assert key in env and env[key] is None, key
    for name in BATCHRELAY_SERVICES - {"gateway"}:
        leaked = GATEWAY_ONLY & set(_environment(services[name]))
        assert not leaked, (name, leaked)


def test_gateway_waits_for_redis_and_stops_gracefully(
    services: dict[str, dict[str, Any]],
) -> None:
    gateway = services["gateway"]
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert _seconds(str(gateway.get("stop_grace_period", "10s"))) >= 10
    test = gateway["healthcheck"]["test"]
    # Exec form with the image's own Python: no curl or wget in python:3.11-slim.
    assert test[:3] == ["CMD", "python", "-c"], test
    compile(test[3], "<healthcheck>", "exec")
    assert "urlopen" in test[3]


def test_gateway_requires_its_tenants_keys(services: dict[str, dict[str, Any]]) -> None:
    """The gateway refuses to start without BATCHRELAY_GATEWAY_KEYS (gateway/auth.py), so
    Compose must refuse first, naming the variable, rather than restart it forever."""
    gateway = services["gateway"]
    keys = _environment(gateway).get("BATCHRELAY_GATEWAY_KEYS")
    assert isinstance(keys, str)
    assert re.fullmatch(r"\$\{BATCHRELAY_GATEWAY_KEYS:\?[^}]+\}", keys), keys
    with pytest.raises(MissingVariable, match="BATCHRELAY_GATEWAY_KEYS"):
        _interpolate(gateway, {})
    resolved = _environment(_interpolate(gateway, SAMPLE_ENV))
    assert resolved["BATCHRELAY_GATEWAY_KEYS"] == SAMPLE_ENV["BATCHRELAY_GATEWAY_KEYS"]


def test_dev_env_has_a_gateway_tenant() -> None:
    env = _read_env_file(DEV_ENV)
    keys = json.loads(env["BATCHRELAY_GATEWAY_KEYS"])
    assert isinstance(keys, dict) and set(keys) == {"dev"}
    assert isinstance(keys["dev"], str) and keys["dev"]


def test_dev_env_points_at_the_emulator() -> None:
    env = _read_env_file(DEV_ENV)
    assert env["COMPOSE_PROFILES"] == "dev"
    assert env["OPENAI_BASE_URL"] == "http://emulator:8089/v1"
    assert env["OPENAI_API_KEY"] and env["FLOWER_BASIC_AUTH"]


# --- the real Compose, when there is one -------------------------------------------------------


def _compose_cli() -> list[str] | None:
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cli in candidates:
        try:
            out = subprocess.run(
                [*cli, "version"], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and re.search(r"version v?2\.", out.stdout):
            return cli
    return None


COMPOSE_CLI = _compose_cli()
needs_compose = pytest.mark.skipif(COMPOSE_CLI is None, reason="no Docker Compose v2 on PATH")


def _run_compose(args: list[str], extra_env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    assert COMPOSE_CLI is not None
    env = {k: v for k, v in os.environ.items() if k not in (*SAMPLE_ENV, "COMPOSE_PROFILES")}
    env.update(extra_env)
    return subprocess.run(
        [*COMPOSE_CLI, "--project-directory", str(REPO), "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=REPO,
    )


@needs_compose
def test_docker_compose_config_accepts_the_file() -> None:
    ok = _run_compose(["config", "-q"], SAMPLE_ENV)
    assert ok.returncode == 0, ok.stderr
    for name in SAMPLE_ENV:
        without = {k: v for k, v in SAMPLE_ENV.items() if k != name}
        missing = _run_compose(["config", "-q"], without)
        assert missing.returncode != 0 and name in missing.stderr, (name, missing.stderr)


@needs_compose
def test_docker_compose_profiles() -> None:
    default = _run_compose(["config", "--services"], SAMPLE_ENV)
    assert default.returncode == 0, default.stderr
    assert set(default.stdout.split()) == ALL_SERVICES - {"emulator"}
    dev = _run_compose(["--env-file", str(DEV_ENV), "config", "--services"], {})
    assert dev.returncode == 0, dev.stderr
    assert set(dev.stdout.split()) == ALL_SERVICES


@needs_compose
def test_docker_compose_resolves_the_gateway() -> None:
    out = _run_compose(["--env-file", str(DEV_ENV), "config", "--format", "json"], {})
    assert out.returncode == 0, out.stderr
    gateway = json.loads(out.stdout)["services"]["gateway"]
    # dev.env's throwaway key reaches the container as it is written there.
    keys = _read_env_file(DEV_ENV)["BATCHRELAY_GATEWAY_KEYS"]
    assert gateway["environment"]["BATCHRELAY_GATEWAY_KEYS"] == keys
    (port,) = gateway["ports"]
    assert port["host_ip"] == "127.0.0.1" and port["target"] == GATEWAY_PORT
    # One binding with the whole range: the engine gives each replica one port of it.
    first, _, last = str(port["published"]).partition("-")
    assert int(first) == GATEWAY_PORT and int(last or first) > int(first)
