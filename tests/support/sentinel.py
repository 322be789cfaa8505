"""A Redis Sentinel deployment on this machine: a primary, replicas and three sentinels, each
a real redis-server process on a free port."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from redis import Redis

from worker.services import free_port, redis_server_binary, start_redis, wait_until

SERVICE = "mymaster"
# Redis 7 waits 5 s before a diskless full sync, hoping for more replicas to join it.
SERVER_ARGS = ["--repl-diskless-sync-delay", "0"]


class SentinelGroup:
    """Primary and replicas (AOF on) watched by sentinels that fail over after one second."""

    def __init__(self, directory: Path, replicas: int = 2, sentinels: int = 3) -> None:
        self.directory = directory
        self.servers: dict[int, subprocess.Popen[bytes]] = {}
        primary, url = start_redis(directory / "primary", fsync="always", extra_args=SERVER_ARGS)
        self.primary_port = int(url.rsplit(":", 1)[1].split("/")[0])
        self.servers[self.primary_port] = primary
        for n in range(replicas):
            replica, url = start_redis(
                directory / f"replica{n}",
                fsync="always",
                extra_args=[*SERVER_ARGS, "--replicaof", "127.0.0.1", str(self.primary_port)],
            )
            self.servers[int(url.rsplit(":", 1)[1].split("/")[0])] = replica
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.sentinels = [self._sentinel(n, port) for n, port in enumerate(self.sentinel_ports)]
        wait_until(self._watching, 30, "sentinels watching the primary and its replicas")

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def _sentinel(self, n: int, port: int) -> subprocess.Popen[bytes]:
        directory = self.directory / f"sentinel{n}"
        directory.mkdir(parents=True)
        config = directory / "sentinel.conf"  # a sentinel rewrites its own file
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 2\n"
            f"logfile {directory / 'sentinel.log'}\n"
        )
        return subprocess.Popen(
            [redis_server_binary(), str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _ask(self, *command: str) -> object:
        for port in self.sentinel_ports:
            try:
                with Redis(port=port, socket_timeout=1, decode_responses=True) as sentinel:
                    return sentinel.execute_command(*command)
            except OSError:
                continue
        return None

    def _watching(self) -> bool:
        try:
            replicas = self._ask("SENTINEL", "REPLICAS", SERVICE)
            others = self._ask("SENTINEL", "SENTINELS", SERVICE)
        except Exception:
            return False
        wanted = len(self.servers) - 1
        with Redis(port=self.primary_port, decode_responses=True) as primary:
            online = primary.info("replication").get("connected_slaves") == wanted and all(
                primary.info("replication")[f"slave{n}"]["state"] == "online" for n in range(wanted)
            )
        return online and isinstance(replicas, list) and len(replicas) == wanted and bool(others)

    def primary(self) -> int:
        """The port of the primary the sentinels name now."""
        address = self._ask("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        assert isinstance(address, list), address
        return int(address[1])

    def kill_primary(self) -> float:
        """SIGKILL the primary; return how long the sentinels took to promote a replica."""
        old = self.primary()
        process = self.servers.pop(old)
        process.send_signal(signal.SIGKILL)
        process.wait()
        started = time.monotonic()
        wait_until(lambda: self.primary() != old, 60, "a sentinel failover")
        return time.monotonic() - started

    def stop(self) -> None:
        for process in [*self.sentinels, *self.servers.values()]:
            process.terminate()
        for process in [*self.sentinels, *self.servers.values()]:
            process.wait()
