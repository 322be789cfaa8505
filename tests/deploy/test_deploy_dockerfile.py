"""Dockerfile and .dockerignore: static checks (no Docker engine here).

Parses the Dockerfile's instructions (continuation lines joined, comments dropped) and holds
it to the deployment contract: python:3.11-slim, the project installed with the extras its
roles need, a non-root user, CMD
`batchrelay worker`, and a build context that carries the packages but no secrets.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with `\\` continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            out.append((word.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continuation"
    return out


def _args() -> dict[str, str]:
    args: dict[str, str] = {}
    for word, rest in _instructions():
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip()
    return args


def _resolve(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), text)


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for word, rest in _instructions():
        if word == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word, rest))
    return stages


def _ignore_patterns() -> list[str]:
    lines = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _ignored(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes. A pattern also
    excludes everything below a matched directory. `**/` matches any number of dirs."""
    ignored = False
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in _ignore_patterns():
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        variants = {pat}
        if pat.startswith("**/"):
            variants |= {pat[3:]}
        if any(fnmatch.fnmatchcase(p, v) for p in prefixes for v in variants) or (
            pat.startswith("**/") and any(fnmatch.fnmatchcase(part, pat[3:]) for part in parts)
        ):
            ignored = not negate
    return ignored


def test_runtime_and_build_images_are_python_311_slim() -> None:
    args = _args()
    froms = [_resolve(rest.split()[0], args) for word, rest in _instructions() if word == "FROM"]
    assert froms and all(f == "python:3.11-slim" for f in froms), froms


def test_project_is_installed_with_the_extras_of_its_roles() -> None:
    """The bare install is only the SDK: the image's roles need the worker, gateway and
    emulator extras (pyproject.toml)."""
    runs = " ".join(rest for word, rest in _instructions() if word == "RUN")
    installed = re.search(r"pip install (?:[-\w=]+ )*'?\.\[([\w,]+)\]'?(?:\s|$|&)", runs)
    assert installed, runs
    assert {"worker", "gateway", "emulator"} <= set(installed[1].split(",")), installed[1]


def test_final_stage_runs_as_a_non_root_user() -> None:
    final = _stages()[-1]
    users = [rest.split(":")[0] for word, rest in final if word == "USER"]
    assert users, "the final stage must switch to a non-root user"
    assert users[-1] not in ("root", "0")
    # The uid that deploy/ declares in runAsUser.
    assert users[-1] == "10001"


def test_default_command_is_the_worker() -> None:
    cmds = [rest for word, rest in _instructions() if word == "CMD"]
    assert cmds and json.loads(cmds[-1]) == ["batchrelay", "worker"], "exec form, worker role"
    assert not [rest for word, rest in _instructions() if word == "ENTRYPOINT"], (
        "no ENTRYPOINT: compose `command:` and Kubernetes `command:` give the whole argv"
    )


def test_copied_sources_exist_and_are_in_the_build_context() -> None:
    copies = [rest for word, rest in _instructions() if word == "COPY" and "--from" not in rest]
    sources = [src for rest in copies for src in rest.split()[:-1] if not src.startswith("--")]
    assert sources
    for src in sources:
        assert (REPO / src).exists(), f"COPY {src}: missing from the repository"
        assert not _ignored(src), f"COPY {src}: excluded by .dockerignore"


def test_every_package_of_the_distribution_is_copied() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    includes = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {inc.rstrip("*").rstrip(".") for inc in includes}
    copied = {
        src.strip("/")
        for word, rest in _instructions()
        if word == "COPY" and "--from" not in rest
        for src in rest.split()[:-1]
    }
    assert packages <= copied, f"not copied into the image: {packages - copied}"
    readme = pyproject["project"].get("readme")
    if isinstance(readme, str):
        assert readme in copied, "pip install . needs the readme named in pyproject.toml"


def test_every_role_port_is_exposed() -> None:
    """EXPOSE documents the port of each serving role (compose and deploy/ publish them)."""
    exposed = {
        int(port.split("/")[0])
        for word, rest in _instructions()
        if word == "EXPOSE"
        for port in rest.split()
    }
    # flower, exporter, emulator, gateway
    assert {5555, 9808, 8089, 8090} <= exposed, exposed


def test_console_script_of_the_default_command_exists() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "batchrelay" in pyproject["project"]["scripts"]


@pytest.mark.parametrize(
    "path",
    [
        ".git",
        ".venv",
        ".env",
        ".env.production",
        "tests",
        "deploy",
        ".mypy_cache",
        "worker/__pycache__",
        "worker/__pycache__/app.cpython-311.pyc",
        "batchrelay.egg-info",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert _ignored(path), path


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "README.md",
        "worker",
        "worker/app.py",
        "producers",
        "emulator",
        "gateway",
        "gateway/app.py",
        "worker/scripts/enqueue.lua",
    ],
)
def test_dockerignore_keeps_in(path: str) -> None:
    assert not _ignored(path), path
