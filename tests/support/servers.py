"""Redis servers a test owns: killed and started again on the same port and directory."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from worker.services import start_redis


class RedisServer:
    """A private redis-server with AOF (fsync always), which a test can SIGKILL and restart."""

    def __init__(self, directory: Path, fsync: str = "always", password: str | None = None) -> None:
        self.directory = directory
        self.fsync = fsync
        self.password = password
        self.process: subprocess.Popen[bytes] | None
        self.process, self.url = start_redis(directory, fsync=fsync, password=password)
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def kill(self) -> None:
        """SIGKILL the server, as an OOM kill or a node loss would."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def start(self) -> None:
        """Start it again on its port, from its AOF."""
        self.process, _ = start_redis(
            self.directory, self.port, fsync=self.fsync, password=self.password
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None
